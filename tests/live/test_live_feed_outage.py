"""A database the feed cannot reach again: after ``reconnect_seconds`` its subscribers are told,
rather than left waiting for events that cannot come."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pytest

from api.accounts.tokens import TokenClaims
from api.audit.query import Filters
from api.db import Database
from api.errors import ServiceUnavailable
from api.live import LiveFeed, LiveLimits
from api.settings import Settings
from tests.helpers import Api

SOCKET_NAME = ".s.PGSQL.5432"


@asynccontextmanager
async def socket_relay(database_url: str, directory: Path) -> AsyncIterator[tuple[str, asyncio.Event]]:
    """A unix socket in ``directory`` relaying to the database's; a URL through it, and an event
    that, once set, cuts every relayed connection and refuses new ones."""
    parts = urlsplit(database_url)
    query = parse_qs(parts.query)
    target = Path(query["host"][0]) / SOCKET_NAME
    cut = asyncio.Event()
    pipes: set[asyncio.Task[None]] = set()

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while chunk := await reader.read(65536):
                writer.write(chunk)
                await writer.drain()
        writer.close()

    async def relay(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        server_reader, server_writer = await asyncio.open_unix_connection(target)
        both = [
            asyncio.create_task(pipe(client_reader, server_writer)),
            asyncio.create_task(pipe(server_reader, client_writer)),
        ]
        pipes.update(both)
        await cut.wait()
        for task in both:
            task.cancel()
        client_writer.close()
        server_writer.close()

    server = await asyncio.start_unix_server(relay, path=str(directory / SOCKET_NAME))

    async def close_on_cut() -> None:
        await cut.wait()
        server.close()

    closer = asyncio.create_task(close_on_cut())
    query["host"] = [str(directory)]
    try:
        yield urlunsplit(parts._replace(query=urlencode(query, doseq=True))), cut
    finally:
        cut.set()
        await closer
        for task in pipes:
            task.cancel()


async def test_subscribers_are_closed_when_the_feed_cannot_listen_again_in_time(
    settings: Settings, db: Database, api: Api, tmp_path: Path
) -> None:
    account_id = await api.account("acme")
    claims = TokenClaims(key_id="k", account_id=account_id, token_id="t", valid_until=int(time.time()) + 3600)
    async with socket_relay(settings.database_url or "", tmp_path) as (relayed_url, cut):
        feed = LiveFeed(db, relayed_url, LiveLimits(reconnect_seconds=1.0))
        subscriber = await feed.subscribe(account_id, claims, Filters())
        cut.set()
        with pytest.raises(ServiceUnavailable) as closed:
            async with asyncio.timeout(30):
                async for _ in subscriber.events():
                    pass
        feed.unsubscribe(subscriber)  # as the subscription's resolver does when it ends
        await feed.close()
    assert "lost its database notifications" in closed.value.message
