"""A database of its own beside the session's, migrated to a chosen revision: for the tests of one
migration on the rows the schema before it wrote."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from sqlalchemy import text

from api.accounts.identity_cache import CHANNEL as IDENTITY_CHANNEL
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
"""Room for a loaded machine, whatever the database's own statement timeout."""

EMPTYING_ATTEMPTS = 3
"""A deadlock with a request still running from the test before (a server's request finishing after
its test ended) ends one of the two; emptying is idempotent, so it is tried again."""

REFERENCING_TABLES = """
WITH RECURSIVE referencing(oid) AS (
    SELECT c.oid FROM pg_class c
    WHERE c.relname = ANY($1::text[]) AND c.relnamespace = current_schema()::regnamespace
  UNION
    SELECT constraints.conrelid FROM pg_constraint constraints
    JOIN referencing ON constraints.confrelid = referencing.oid
    WHERE constraints.contype = 'f'
)
SELECT DISTINCT c.relname FROM referencing JOIN pg_class c ON c.oid = referencing.oid
WHERE NOT c.relispartition ORDER BY c.relname
"""
"""The tables named and every table that refers to them, transitively: what ``TRUNCATE ... CASCADE``
would empty."""


async def empty_tables(db: Database, tables: str) -> None:
    """Empty ``tables`` and every table referring to them, as ``TRUNCATE ... CASCADE`` would, but with
    DELETE: TRUNCATE gives each daily partition and each of their indexes new files, about 0.3 s
    per test on an idle machine, where DELETE of a test's few rows takes 0.05 s.  Replica mode skips
    the row triggers (foreign keys included) as TRUNCATE does, so the order does not matter and no
    row trigger of the product sees the emptying."""
    names = [name.strip() for name in tables.split(",")]
    for attempt in range(1, EMPTYING_ATTEMPTS + 1):
        try:
            async with db.transaction() as session:
                # Through SQLAlchemy first: it begins the transaction on its first statement, so a
                # SET LOCAL sent straight to the driver before that would run (and be lost) outside it.
                await session.execute(text(f"SET LOCAL statement_timeout = '{EMPTYING_TIMEOUT_SECONDS}s'"))
                await session.execute(text("SET LOCAL session_replication_role = replica"))
                raw = await driver_connection(session)
                for row in await raw.fetch(REFERENCING_TABLES, names):
                    await raw.execute(f'DELETE FROM "{row["relname"]}"', timeout=EMPTYING_TIMEOUT_SECONDS)
                # What the identity tables' TRUNCATE triggers said: a server kept across tests forgets
                # the identities it verified, as it would after any change.
                await raw.execute("SELECT pg_notify($1, 'emptied between tests')", IDENTITY_CHANNEL)
            return
        except asyncpg.DeadlockDetectedError:
            if attempt == EMPTYING_ATTEMPTS:
                raise
            await asyncio.sleep(0.2 * attempt)
