"""The real app served by uvicorn on 127.0.0.1 in the test's event loop, for clients that need a URL."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from starlette.types import ASGIApp


@asynccontextmanager
async def serving(app: ASGIApp, log_level: str = "warning") -> AsyncIterator[str]:
    """Serve ``app`` (its lifespan included) on a free loopback port; yields ``http://127.0.0.1:<port>``.

    At ``log_level="info"`` uvicorn writes its access log (to stdout), as ``audittrail serve`` does."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level=log_level, lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[listener]))
    try:
        while not server.started:
            assert not task.done(), "uvicorn stopped during start-up"
            await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        listener.close()
