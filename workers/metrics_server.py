"""The worker's ``/metrics`` on ``AUDITTRAIL_WORKER_METRICS_PORT``: the API's route, served by uvicorn
in the worker's own event loop.

uvicorn is told not to take SIGINT/SIGTERM: arq handles them, and stops this server on shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator

import uvicorn
from starlette.applications import Starlette

from api.observability import metrics_routes
from api.settings import Settings


class _QuietServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # arq owns the signals of the worker process


class WorkerMetricsServer:
    """Started by the worker's startup hook, stopped by its shutdown hook."""

    def __init__(self, server: uvicorn.Server, task: asyncio.Task[None], listener: socket.socket) -> None:
        self._server = server
        self._task = task
        self._listener = listener

    @classmethod
    async def start(cls, settings: Settings) -> WorkerMetricsServer | None:
        """Listening once this returns (a port in use fails the worker's start); None when no port is set."""
        if settings.worker_metrics_port is None or not settings.metrics_enabled:
            return None
        address = (settings.worker_metrics_host, settings.worker_metrics_port)
        try:
            listener = socket.create_server(address)
        except OSError as error:
            # Not an OSError: run_worker restarts on those, taking them for a lost Redis.
            raise RuntimeError(
                f"the worker cannot serve its metrics on {address[0]}:{address[1]} ({error.strerror}): give each"
                " worker on a host its own AUDITTRAIL_WORKER_METRICS_PORT, or leave it unset"
            ) from None
        app = Starlette(routes=metrics_routes(settings))
        server = _QuietServer(uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False))
        task = asyncio.create_task(server.serve(sockets=[listener]))
        while not server.started:
            if task.done():
                listener.close()
                task.result()  # raises what stopped it
                raise RuntimeError("the worker's metrics server stopped during start-up")
            await asyncio.sleep(0.01)
        return cls(server, task, listener)

    async def stop(self) -> None:
        """Stop listening and wait for uvicorn to finish."""
        self._server.should_exit = True
        await self._task
        self._listener.close()
