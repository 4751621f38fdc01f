"""The raw limit for one write over HTTP: a bare starlette endpoint doing one INSERT with asyncpg."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from ulid import ULID

from api.db import raw_url

pool: asyncpg.Pool | None = None


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    global pool
    pool = await asyncpg.create_pool(raw_url(os.environ["DATABASE_URL"]), min_size=2, max_size=10)
    yield
    await pool.close()


async def insert_one(request: Request) -> JSONResponse:
    assert pool is not None
    event_id = str(ULID())
    await pool.execute(
        "INSERT INTO audit_events (id, created_at, account_id, action, actor, actor_source, event_type, body)"
        " VALUES ($1, now(), $2, 'bench.raw', 'bench::raw', 'bench', 'UPDATE', '{}')",
        event_id,
        os.environ["BENCH_ACCOUNT_ID"],
    )
    return JSONResponse({"id": event_id, "at": time.time()})


app = Starlette(routes=[Route("/insert", insert_one, methods=["POST"])], lifespan=lifespan)
