"""The receiver as a small starlette app: ``POST /`` takes deliveries, ``GET /healthz`` answers ok."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from botocore.exceptions import BotoCoreError, ClientError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from receivers.s3.batch import BatchWriter
from receivers.s3.config import ReceiverConfig
from receivers.s3.receive import Rejection, accept_delivery
from receivers.s3.store import S3Store

log = logging.getLogger(__name__)


def create_app(config: ReceiverConfig, store: S3Store | None = None) -> Starlette:
    """An ASGI app writing to ``store`` (default: the configured bucket)."""
    store = store or S3Store.from_config(config)
    batches = BatchWriter(store, config.batch) if config.mode == "ndjson" else None

    async def receive(request: Request) -> Response:
        body_bytes = await _read_body(request, config.max_body_bytes)
        outcome = accept_delivery(config, body_bytes, request.headers)
        if isinstance(outcome, Rejection):
            log.warning("rejected a delivery (%d): %s", outcome.status_code, outcome.message)
            return JSONResponse({"error": outcome.message}, status_code=outcome.status_code)
        key: str | None
        try:
            if batches is None:
                key = await asyncio.to_thread(store.put_event, outcome)
            else:
                key = await batches.add(outcome)
        except (BotoCoreError, ClientError) as error:
            # 503 makes the sender retry later; the event is not lost.
            log.error("could not write event %s to S3: %s", outcome.event_id, error)
            return JSONResponse({"error": f"could not write to S3, retry later: {error}"}, status_code=503)
        if key is None:
            return JSONResponse({"buffered": outcome.event_id}, status_code=202)
        return JSONResponse({"stored": key})

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True})

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        if batches is not None:
            await batches.close()

    return Starlette(
        routes=[Route("/", receive, methods=["POST"]), Route("/healthz", health, methods=["GET"])],
        lifespan=lifespan,
    )


async def _read_body(request: Request, max_body_bytes: int) -> bytes:
    """The raw body; reading stops once past the limit, so an oversized body is refused without reading it all."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        chunks.append(chunk)
        size += len(chunk)
        if size > max_body_bytes:
            break
    return b"".join(chunks)
