"""A connection of its own that LISTENs to one PostgreSQL channel: what the live tail and the
identity cache hear commits by (``NOTIFY`` is delivered after its transaction commits, never for a
rollback).  The caller decides what a lost connection means; asyncpg tells it through ``on_lost``."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from typing import Any

import asyncpg

from api.db import raw_url

LISTEN_FAILURES = (OSError, asyncpg.PostgresError, TimeoutError)
"""What keeps a connection from listening: an unreachable or refusing database."""
CONNECT_SECONDS = 10

OnNotification = Callable[[Any, int, str, str], None]
"""asyncpg's callback: the connection, the notifying backend's pid, the channel and the payload."""
OnLost = Callable[[Any], None]


async def open_listener(
    database_url: str, channel: str, on_notification: OnNotification, on_lost: OnLost, *, name: str
) -> asyncpg.Connection:
    """A connection listening to ``channel`` once this returns (``LISTEN`` has run), named ``name`` in
    ``pg_stat_activity``; ``on_lost`` is called if the server or the network ends it.  Raises one of
    ``LISTEN_FAILURES`` when it cannot listen (a connection opened on the way is closed)."""
    connection: asyncpg.Connection | None = None
    try:
        connection = await asyncpg.connect(
            raw_url(database_url), timeout=CONNECT_SECONDS, server_settings={"application_name": name}
        )
        await connection.add_listener(channel, on_notification)
    except LISTEN_FAILURES:
        if connection is not None:
            connection.terminate()  # connected but not listening: of no use
        raise
    connection.add_termination_listener(on_lost)
    return connection


async def close_listener(connection: asyncpg.Connection, on_lost: OnLost) -> None:
    """Stop listening and close ``connection`` without calling ``on_lost``: we are done with it."""
    if connection.is_closed():
        return
    connection.remove_termination_listener(on_lost)
    with suppress(Exception):  # closing a connection we are done with; nothing to save
        await connection.close(timeout=1)
