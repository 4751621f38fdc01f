"""The HTTP floor of a read: a bare ASGI app, an asyncpg pool and orjson, with the values in the SQL.

No framework, no GraphQL, no ORM, no token: the request's JSON is parsed, one statement runs with
its values written into it (so the planner prunes partitions as for a custom plan) and the rows go
back as JSON.  Nothing a real API can do for less; ``bench.read`` measures ours against it.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import asyncpg
import orjson

from api.db import raw_url

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

pool: asyncpg.Pool | None = None


def literal(value: str | int) -> str:
    """A SQL literal of a bench value (numbers as they are, text quoted as PostgreSQL quotes it)."""
    return str(value) if isinstance(value, int) else "'" + value.replace("'", "''") + "'"


async def body_of(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """POST {"sql": "... {0} ...", "values": [...]}: the rows of the statement, values inlined."""
    global pool
    if scope["type"] == "lifespan":
        while (message := await receive())["type"] != "lifespan.shutdown":
            if message["type"] == "lifespan.startup":
                pool = await asyncpg.create_pool(raw_url(os.environ["DATABASE_URL"]), min_size=8, max_size=8)
                await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    assert pool is not None
    answer = b"{}"  # GET: the readiness probe
    if scope["method"] == "POST":
        request = orjson.loads(await body_of(receive))
        rows = await pool.fetch(request["sql"].format(*(literal(v) for v in request["values"])))
        answer = orjson.dumps({"data": [dict(row) for row in rows]})
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(answer)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": answer})
