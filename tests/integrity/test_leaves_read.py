"""An interval's leaves are the same whether read joined into one value (a small interval, on a
prepared statement's generic plan) or streamed by ``COPY`` (past ``listed_at_most``): the same leaves in tree order, the
same hashes, and only the account's events recorded in the interval."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from api.audit.hashing import PACKED_LEAF_SIZE, leaf_hashes
from api.db import Database, driver_connection
from api.integrity.digester import leaves_recorded_in
from api.integrity.leaf_level import CopiedLeaves, LeafLevel, UnexpectedCopyData
from tests.integrity.support import seed_trail

COUNT = 7


RECORDED = text("SELECT max(recorded_at) FROM audit_events WHERE account_id = :account_id")


async def read(db: Database, account_id: str, listed_at_most: int) -> LeafLevel:
    """The leaves of a two-second window around the account's seeded batch (recorded at one moment)."""
    async with db.transaction() as session:
        recorded_at = (await session.execute(RECORDED, {"account_id": account_id})).scalar_one()
        connection = await driver_connection(session)
        start, end = recorded_at - timedelta(seconds=1), recorded_at + timedelta(seconds=1)
        return await leaves_recorded_in(connection, account_id, start, end, listed_at_most=listed_at_most)


async def test_rows_and_copy_read_the_same_leaves(db: Database) -> None:
    trail = await seed_trail(db, "acme", count=COUNT)
    await seed_trail(db, "globex", count=3)  # another account's events in the same interval
    levels = {limit: await read(db, trail.account_id, limit) for limit in (COUNT + 100, COUNT, COUNT - 1, 1)}
    expected = levels[COUNT + 100]
    assert sorted(event_id for event_id, _ in expected.leaves) == sorted(trail.event_ids)
    assert expected.hashes == leaf_hashes(_entries(expected))
    for limit, level in levels.items():  # joined at COUNT and above, by COPY below
        assert (level.leaves, level.hashes) == (expected.leaves, expected.hashes), limit


def _entries(level: LeafLevel) -> list[bytes]:
    packed = level.leaves.packed
    return [packed[i : i + PACKED_LEAF_SIZE] for i in range(0, len(packed), PACKED_LEAF_SIZE)]


def test_joined_leaves_that_are_not_whole_leaves_are_refused() -> None:
    with pytest.raises(UnexpectedCopyData):
        CopiedLeaves().take_joined(bytes(2 * PACKED_LEAF_SIZE - 1))
