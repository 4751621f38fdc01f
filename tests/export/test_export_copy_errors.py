"""A ``COPY`` the database stops ends the export with the database's error, after the pieces it sent."""

from __future__ import annotations

from contextlib import aclosing

import asyncpg
import pytest
from sqlalchemy import text

from api.audit.query import Filters
from api.db import Database
from api.export import ExportFormat, ExportQuery, export_chunks, prepared
from api.models import Role
from tests.helpers import Api
from tests.test_audit_support import ago, draft, seed

PADDED_EVENTS = 2_000  # ~16 MB of bodies: the COPY is still sending when the first chunk arrives


async def cancel_the_export_copy(db: Database) -> int:
    """Cancel the export's ``COPY`` as an operator would (``pg_cancel_backend``); the test's own
    PostgreSQL runs no other (pg_stat_activity cuts the text before the account's id)."""
    async with db.transaction() as session:
        cancelled = await session.execute(
            text(
                "SELECT pg_cancel_backend(pid) FROM pg_stat_activity"
                " WHERE query LIKE 'COPY (SELECT audit_events.%' AND pid <> pg_backend_pid()"
            )
        )
        return len(cancelled.all())


async def test_a_copy_cancelled_by_the_database_ends_the_export_with_its_error(api: Api) -> None:
    key = await api.key("acme", Role.READER, login=False)
    padding = {"pad": "x" * 8000}
    for first in range(0, PADDED_EVENTS, 1000):
        await seed(
            api.db, key.account_id, [draft(at=ago(seconds=n + 1), data=padding) for n in range(first, first + 1000)]
        )
    query = prepared(ExportQuery(account_id=key.account_id, filters=Filters(predicates=()), batch_size=100))
    rows = 0
    cancelled = 0

    with pytest.raises(asyncpg.QueryCanceledError):
        async with aclosing(export_chunks(api.db, query, ExportFormat.CSV)) as chunks:
            async for chunk in chunks:
                rows += chunk.rows
                if not cancelled:
                    cancelled = await cancel_the_export_copy(api.db)

    assert cancelled == 1
    assert 0 < rows < PADDED_EVENTS
