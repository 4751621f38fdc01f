"""Migration 0004 on rows the previous schema wrote: Spacelift's event types, the run flag, resource types."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from api.embedded import EmbeddedServers
from api.migrate import upgrade_database
from tests.support.databases import database_at

OLD_ROWS = [
    # (action, event_type, affected type, related type)
    ("api_key.create", "AUDIT", "api_key", None),
    ("api_key.delete", "AUDIT", "api_key", None),
    ("audit_trail_webhook.set", "AUDIT", "audit_trail_webhook", None),
    ("account.set_retention", "AUDIT", "account", None),
    ("run.state_changed", "RUN_STATE_CHANGE", "stack", "space"),
    ("stack.update", "AUDIT", "STACK", "module-version"),
]


@pytest.fixture
async def old_database(servers: EmbeddedServers) -> AsyncIterator[str]:
    """A database of its own at revision 0003 (the schema before Spacelift's vocabulary)."""
    async with database_at(servers, "migration_0004", "0003") as url:
        yield url


async def test_old_rows_get_spacelifts_vocabulary_and_keep_their_bodies(old_database: str) -> None:
    connection = await asyncpg.connect(old_database)
    try:
        await connection.execute(
            "INSERT INTO accounts (id, name, retention_days, created_at) VALUES ('A', 'acme', 30, now())"
        )
        for number, (action, event_type, affected, related) in enumerate(OLD_ROWS):
            await connection.execute(
                """
                INSERT INTO audit_events (id, created_at, account_id, action, actor, actor_source, event_type,
                                          affected_resource_type, related_resource_type, body)
                VALUES ($1, now(), 'A', $2, 'api_key::K', 'api_key', $3, $4, $5, $6)
                """,
                f"E{number}",
                action,
                event_type,
                affected,
                related,
                f'{{"action":"{action}","actor":"api_key::K"}}',
            )
        await connection.execute(
            "INSERT INTO webhooks (id, account_id, enabled, endpoint, secret_encrypted, secret_sha)"
            " VALUES ('W', 'A', true, 'https://example.com', 'x', 'y')"
        )
    finally:
        await connection.close()

    await asyncio.to_thread(upgrade_database, old_database)

    connection = await asyncpg.connect(old_database)
    try:
        rows = await connection.fetch(
            "SELECT action, event_type, run_state_change, affected_resource_type, related_resource_type, actor, body"
            " FROM audit_events ORDER BY id"
        )
        retry_default = await connection.fetchval(
            "SELECT column_default FROM information_schema.columns"
            " WHERE table_name = 'webhooks' AND column_name = 'retry_on_failure'"
        )
        existing_retry = await connection.fetchval("SELECT retry_on_failure FROM webhooks WHERE id = 'W'")
        with pytest.raises(asyncpg.CheckViolationError):
            await connection.execute(
                "INSERT INTO audit_events (id, created_at, account_id, action, actor, actor_source, event_type, body)"
                " VALUES ('X', now(), 'A', 'a.b', 'x::y', 'x', 'AUDIT', '{}')"
            )
    finally:
        await connection.close()

    migrated = [
        (r["action"], r["event_type"], r["run_state_change"], r["affected_resource_type"], r["related_resource_type"])
        for r in rows
    ]
    assert migrated == [
        ("api_key.create", "CREATE", False, "API_KEY", None),
        ("api_key.delete", "DELETE", False, "API_KEY", None),
        ("audit_trail_webhook.set", "UPDATE", False, "AUDIT_TRAIL_WEBHOOK", None),
        ("account.set_retention", "UPDATE", False, "ACCOUNT", None),
        ("run.state_changed", "UPDATE", True, "STACK", "SPACE"),
        ("stack.update", "UPDATE", False, "STACK", "MODULE_VERSION"),
    ]
    # What a webhook received is history: the actor and the body stay as they were recorded.
    assert {r["actor"] for r in rows} == {"api_key::K"}
    assert rows[0]["body"] == '{"action":"api_key.create","actor":"api_key::K"}'
    assert retry_default == "false"
    assert existing_retry is True  # a webhook saved before keeps what it had
