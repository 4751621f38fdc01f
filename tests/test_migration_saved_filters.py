"""Migration 0009 up and down: the saved filters table, its bounds, and a clean downgrade to 0008."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest
from alembic import command
from alembic.config import Config

from api.embedded import EmbeddedServers
from api.migrate import MIGRATIONS_DIR, upgrade_database
from tests.support.databases import database_at


def downgrade_database(database_url: str, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    command.downgrade(config, revision)


@pytest.fixture
async def database_at_0008(servers: EmbeddedServers) -> AsyncIterator[str]:
    async with database_at(servers, "migration_0009", "0008") as url:
        yield url


async def test_0009_creates_a_bounded_table_and_drops_it_on_downgrade(database_at_0008: str) -> None:
    await asyncio.to_thread(upgrade_database, database_at_0008, "0009")
    connection = await asyncpg.connect(database_at_0008)
    try:
        await connection.execute(
            "INSERT INTO accounts (id, name, retention_days, created_at) VALUES ('A', 'acme', 30, now())"
        )
        await connection.execute(
            "INSERT INTO api_keys (id, account_id, name, role, secret_hash, created_at)"
            " VALUES ('K', 'A', 'k', 'READER', 'h', now())"
        )
        insert = (
            "INSERT INTO saved_filters (id, account_id, type, name, data, created_by)"
            " VALUES ($1, 'A', 'auditTrailEntries', $2, $3, 'K')"
        )
        await connection.execute(insert, "F1", "errors", "{}")
        with pytest.raises(asyncpg.UniqueViolationError):
            await connection.execute(insert, "F2", "errors", "{}")
        with pytest.raises(asyncpg.CheckViolationError):
            await connection.execute(insert, "F3", "big", "x" * 16385)
        with pytest.raises(asyncpg.CheckViolationError):
            await connection.execute(insert, "F4", "", "{}")
    finally:
        await connection.close()

    await asyncio.to_thread(downgrade_database, database_at_0008, "0008")
    connection = await asyncpg.connect(database_at_0008)
    try:
        assert await connection.fetchval("SELECT to_regclass('saved_filters')") is None
        assert await connection.fetchval("SELECT version_num FROM alembic_version") == "0008"
    finally:
        await connection.close()
