"""A database of its own beside the session's, migrated to a chosen revision: for the tests of one
migration on the rows the schema before it wrote."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from api.db import Database, driver_connection, raw_url
from api.embedded import EmbeddedServers
from api.migrate import upgrade_database


@asynccontextmanager
async def database_at(servers: EmbeddedServers, name: str, revision: str) -> AsyncIterator[str]:
    """Database ``name`` (made anew) at ``revision``; yields its URL and drops it afterwards."""
    admin = await asyncpg.connect(raw_url(servers.database_url))
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = urlunsplit(urlsplit(raw_url(servers.database_url))._replace(path=f"/{name}"))
    try:
        await asyncio.to_thread(upgrade_database, url, revision)
        yield url
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


EMPTYING_TIMEOUT_SECONDS = 120
"""TRUNCATE gives every daily partition and its indexes new files: on a loaded machine, with a
checkpoint syncing the last test's files, that took longer than a statement's usual time."""


async def empty_tables(db: Database, tables: str) -> None:
    """``TRUNCATE tables CASCADE`` with room for a loaded machine, whatever the database's timeouts."""
    async with db.transaction() as session:
        raw = await driver_connection(session)
        await raw.execute(f"SET LOCAL statement_timeout = '{EMPTYING_TIMEOUT_SECONDS}s'")
        await raw.execute(f"TRUNCATE {tables} CASCADE", timeout=EMPTYING_TIMEOUT_SECONDS)
