"""Hot writes sent on the session's own asyncpg connection (``api.db.execute_in``) stay inside the
session's unit of work, and a connection left in an unknown state is not reused."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from api.accounts.keys import create_key, list_keys
from api.audit.record import EventDraft, record_events
from api.db import Database, DatabaseTimeouts, execute_in
from api.models import Account, ApiKey, EventType, Role
from api.settings import Settings
from tests.helpers import Api
from tests.test_audit_support import event_count


class UnitFailed(Exception):
    """What the unit of work raises after its first statement."""


async def test_an_event_recorded_as_a_transactions_first_statement_is_rolled_back_with_it(api: Api) -> None:
    account_id = await api.account("acme")
    draft = EventDraft(
        action="stack.update", actor="api::first", timestamp_ms=1_764_000_000_000, event_type=EventType.UPDATE
    )
    with pytest.raises(UnitFailed):
        async with api.db.transaction() as session:
            await record_events(session, [draft], account_id=account_id, account_name="acme", recorded_by=None)
            raise UnitFailed

    assert await event_count(api.db) == 0


async def test_the_sessions_pending_writes_are_flushed_before_the_statement(api: Api) -> None:
    async with api.db.transaction() as session:
        account = Account(name="pending", retention_days=7)
        session.add(account)  # not flushed: the key's foreign key needs the account's row first
        created = await create_key(session, account.id, "first key", Role.ADMIN)

    assert [key.id for key in await list_keys_of(api.db, account.id)] == [created.key.id]


async def list_keys_of(db: Database, account_id: str) -> list[ApiKey]:
    async with db.transaction() as session:
        return await list_keys(session, account_id)


async def test_a_statement_past_its_timeout_closes_its_connection_instead_of_pooling_it(settings: Settings) -> None:
    db = Database(settings.database_url or "", pool_size=1, timeouts=DatabaseTimeouts(statement_seconds=0.3))
    try:
        with pytest.raises(TimeoutError):
            async with db.transaction() as session:
                stuck_pid = (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
                await execute_in(session, text("SELECT pg_sleep(5)"))
        async with db.transaction() as session:
            next_pid = (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
    finally:
        await db.dispose()

    assert next_pid != stuck_pid
