"""Real HTTP receivers on 127.0.0.1 and a real arq worker, for webhook and delivery tests.

A receiver is a tiny HTTP/1.1 server (asyncio streams) in the test process: it records each
request's raw body bytes and headers exactly as they arrived, and answers from a script.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import os
import socket
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from arq.worker import Worker

from api.settings import Settings
from tests.support.processes import stop_process
from tests.support.schedules import DIGEST_INTERVAL_SECONDS
from workers.settings import build_worker

REASONS = {200: "OK", 204: "No Content", 400: "Bad Request", 404: "Not Found", 429: "Too Many Requests"}


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b'{"ok":true}'
    headers: tuple[tuple[str, str], ...] = ()
    delay_seconds: float = 0.0


@dataclass(frozen=True)
class ReceivedRequest:
    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes
    received_at: float

    def header(self, name: str) -> str | None:
        """The header's value (case-insensitive name), None when absent."""
        values = self.header_values(name)
        return values[0] if values else None

    def header_values(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]

    def signature_ok(self, secret: str) -> bool:
        """GitHub's recipe: ``X-Signature-256`` is the HMAC-SHA256 of the raw body under ``secret``."""
        expected = "sha256=" + hmac.new(secret.encode(), self.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, self.header("X-Signature-256") or "")


@dataclass
class Receiver:
    """Answers with ``script`` in order, then with ``default``; or with ``reply_for(request)`` when set."""

    script: list[Reply] = field(default_factory=list)
    default: Reply = field(default_factory=Reply)
    reply_for: Callable[[ReceivedRequest], Reply] | None = None
    tls: ssl.SSLContext | None = None
    """Answers HTTPS with this server context when set."""
    requests: list[ReceivedRequest] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None
    _arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def start(self) -> Receiver:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def wait_for(self, count: int, timeout: float = 15.0) -> list[ReceivedRequest]:
        """Wait until at least ``count`` requests arrived; fail with what did arrive otherwise."""
        async with self._arrived:
            try:
                await asyncio.wait_for(self._arrived.wait_for(lambda: len(self.requests) >= count), timeout)
            except TimeoutError:
                raise AssertionError(
                    f"expected {count} requests within {timeout} s, got {len(self.requests)}"
                ) from None
        return list(self.requests)

    def actions(self) -> list[str]:
        """The ``action`` of each payload received, in order."""
        return [orjson.loads(request.body)["action"] for request in self.requests]

    def _next_reply(self, request: ReceivedRequest) -> Reply:
        if self.reply_for is not None:
            return self.reply_for(request)
        return self.script.pop(0) if self.script else self.default

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, *header_lines = head.decode("latin-1").split("\r\n")
            method, path, _ = request_line.split(" ", 2)
            headers = [
                (name.strip(), value.strip())
                for name, _, value in (line.partition(":") for line in header_lines if line)
            ]
            length = int(next((value for name, value in headers if name.lower() == "content-length"), "0"))
            body = await reader.readexactly(length)
            request = ReceivedRequest(method, path, headers, body, time.monotonic())
            reply = self._next_reply(request)
            async with self._arrived:
                self.requests.append(request)
                self._arrived.notify_all()
            if reply.delay_seconds:
                await asyncio.sleep(reply.delay_seconds)
            reason = REASONS.get(reply.status, "Status")
            lines = [f"HTTP/1.1 {reply.status} {reason}", f"Content-Length: {len(reply.body)}", "Connection: close"]
            lines += [f"{name}: {value}" for name, value in reply.headers]
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + reply.body)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()


@contextlib.asynccontextmanager
async def running_receiver(**options: object) -> AsyncIterator[Receiver]:
    receiver = await Receiver(**options).start()  # type: ignore[arg-type]
    try:
        yield receiver
    finally:
        await receiver.stop()


def unused_port() -> int:
    """A port nothing listens on (connection refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.asynccontextmanager
async def running_worker(settings: Settings) -> AsyncIterator[Worker]:
    """The real arq worker in this event loop, shut down (jobs awaited, connections closed) on exit."""
    worker = build_worker(settings, handle_signals=False)
    task = asyncio.create_task(worker.async_run())
    try:
        yield worker
    finally:
        if worker.main_task is not None:
            worker.main_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await asyncio.gather(*worker.tasks.values(), return_exceptions=True)
        worker.tasks.clear()
        await worker.close()


def worker_environment(settings: Settings, data_dir: Path, **overrides: str) -> dict[str, str]:
    """The environment of a worker process of its own against the test servers, with a fast schedule:
    this process's variables without its ``AUDITTRAIL_`` ones, the test servers and key, ``overrides``."""
    return {
        **{name: value for name, value in os.environ.items() if not name.startswith("AUDITTRAIL_")},
        "DATABASE_URL": settings.database_url or "",
        "REDIS_URL": settings.redis_url or "",
        "AUDITTRAIL_SECRET_KEY": settings.resolved_secret_key(),
        "AUDITTRAIL_DATA_DIR": str(data_dir),
        "AUDITTRAIL_ALLOW_PRIVATE_ENDPOINTS": "true",
        "AUDITTRAIL_RETRY_SCHEDULE_SECONDS": "[0.2, 0.4, 0.8]",
        "AUDITTRAIL_SWEEP_INTERVAL_SECONDS": "1",
        "AUDITTRAIL_DIGEST_INTERVAL_SECONDS": str(DIGEST_INTERVAL_SECONDS),
        **{f"AUDITTRAIL_{name.upper()}": value for name, value in overrides.items()},
    }


@contextlib.contextmanager
def running_process(
    command: list[str], environment: dict[str, str], log_file: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """``command`` in a process of its own, its output appended to ``log_file``; SIGTERM on exit."""
    with log_file.open("ab") as log:
        process = subprocess.Popen(command, env=environment, stdout=log, stderr=log)
    try:
        yield process
    finally:
        stop_process(process)


WEBHOOK_FIELDS = """
    enabled endpoint includeRuns retryOnFailure secretSHA customHeaderNames createdAt updatedAt
    lastDeliveryAt lastSuccessAt consecutiveFailures
"""
DELIVERY_FIELDS = """
    id eventId action status attempts lastStatusCode lastError lastLatencyMs responseSnippet
    nextAttemptAt createdAt deliveredAt
"""
SET_WEBHOOK = (
    "mutation($input: AuditTrailWebhookInput!) { auditTrailSetWebhook(input: $input) {" + WEBHOOK_FIELDS + "} }"
)
WEBHOOK_QUERY = (
    "query($status: AuditTrailDeliveryStatus) { auditTrailWebhook {"
    + WEBHOOK_FIELDS
    + (
        " deliveries(first: 100, status: $status) { edges { cursor node {" + DELIVERY_FIELDS + "} } pageInfo {"
        " endCursor hasNextPage hasPreviousPage } } } }"
    )
)
WEBHOOK_SECRET = "whsec-test-secret-4f9a2c"


def webhook_input(endpoint: str, **fields: object) -> dict[str, object]:
    """A set-webhook input: enabled, with the test secret, plus ``fields``."""
    return {"enabled": True, "endpoint": endpoint, "secret": WEBHOOK_SECRET, **fields}
