"""Daily event partitions are created ahead of their day, once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from api.audit.partitions import ensure_partitions
from api.db import Database


async def partition_exists(db: Database, name: str) -> bool:
    async with db.transaction() as session:
        return bool((await session.execute(text("SELECT to_regclass(:n) IS NOT NULL"), {"n": name})).scalar_one())


async def test_partitions_are_created_ahead_and_a_second_run_creates_none(db: Database) -> None:
    days_ahead = 12  # beyond the week the migration creates
    last_day = datetime.now(UTC).date() + timedelta(days=days_ahead)

    async with db.transaction() as session:
        created = await ensure_partitions(session, days_ahead=days_ahead)
    async with db.transaction() as session:
        created_again = await ensure_partitions(session, days_ahead=days_ahead)

    assert created > 0 and created_again == 0
    assert await partition_exists(db, f"audit_events_p{last_day:%Y%m%d}")
    assert not await partition_exists(db, f"audit_events_p{last_day + timedelta(days=1):%Y%m%d}")
