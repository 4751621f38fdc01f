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


EMPTYING_ATTEMPTS = 3
"""A read still running from the test before (a server's request finishing after its test ended) can
lock a partition and then the table the TRUNCATE locked first: PostgreSQL then ends one of the two
with a deadlock error (seen in CI, the TRUNCATE chosen).  Emptying is idempotent, so it is tried again."""


async def empty_tables(db: Database, tables: str) -> None:
    """``TRUNCATE tables CASCADE`` with room for a loaded machine, whatever the database's timeouts."""
    for attempt in range(1, EMPTYING_ATTEMPTS + 1):
        try:
            async with db.transaction() as session:
                raw = await driver_connection(session)
                await raw.execute(f"SET LOCAL statement_timeout = '{EMPTYING_TIMEOUT_SECONDS}s'")
                await raw.execute(f"TRUNCATE {tables} CASCADE", timeout=EMPTYING_TIMEOUT_SECONDS)
            return
        except asyncpg.DeadlockDetectedError:
            if attempt == EMPTYING_ATTEMPTS:
                raise
            await asyncio.sleep(0.2 * attempt)
