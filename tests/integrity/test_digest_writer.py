"""The digest row as the digester writes it.  The leaves go out in an INSERT before the root is
known and one UPDATE seals the row with the root, signature and digest hash, in the same
transaction: the stored row is whole and signed whatever order the events are read in (already in
tree order, or not), and when the INSERT fails nothing is stored and the error is the database's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from sqlalchemy import text

from api import integrity
from api.accounts import accounts as account_store
from api.audit.hashing import pack_leaves
from api.audit.record import EventDraft, now_ms, record_events
from api.db import Database
from api.models import EventType
from tests.integrity.support import SCHEDULE, Trail, digest_everything, digest_row, execute, statement_of
from tests.integrity.test_packed_leaves import documented_root


async def record_in_id_order(db: Database, name: str, *, ascending: bool, count: int = 6) -> Trail:
    """Events recorded in one batch whose ids (ULIDs of their timestamps) ascend or descend as they
    are stored: the digester reads the first in tree order, the second in reverse."""
    offsets = range(count) if ascending else range(count, 0, -1)
    base_ms = now_ms() - 10_000
    async with db.transaction() as session:
        account = await account_store.create_account(session, name, retention_days=30)
        account.digest_events = False
        await session.flush()
        drafts = [
            EventDraft(
                action="stack.update",
                actor="api::tester",
                timestamp_ms=base_ms + offset,
                event_type=EventType.UPDATE,
                data={"offset": offset},
            )
            for offset in offsets
        ]
        batch = await record_events(session, drafts, account_id=account.id, account_name=name, recorded_by=None)
    return Trail(account.id, name, [event.id for event in batch.events])


async def stored_pairs(db: Database, account_id: str) -> list[tuple[str, bytes]]:
    async with db.transaction() as session:
        rows = await session.execute(
            text("SELECT id, event_hash FROM audit_events WHERE account_id = :a"), {"a": account_id}
        )
        return [(row.id, bytes(row.event_hash)) for row in rows]


@pytest.mark.parametrize("ascending", [True, False], ids=["read-in-tree-order", "read-in-reverse"])
async def test_the_stored_digest_is_sealed_with_the_root_of_its_leaves_in_tree_order(
    db: Database, keys: integrity.KeyRing, ascending: bool
) -> None:
    trail = await record_in_id_order(db, "ascending" if ascending else "descending", ascending=ascending)
    assert trail.event_ids == sorted(trail.event_ids, reverse=not ascending)
    await digest_everything(db, keys.signing_key)
    row = await digest_row(db, 1, trail.account_id)
    pairs = await stored_pairs(db, trail.account_id)
    assert len(pairs) == 6
    assert bytes(row["leaves"]) == pack_leaves(pairs)
    assert bytes(row["merkle_root"]) == documented_root(pairs)
    assert row["event_count"] == 6
    statement = statement_of(row, trail.account_name)
    keys.signing_key.public.key.verify(bytes(row["signature"]), statement.signed_bytes())
    assert bytes(row["digest_hash"]) == statement.digest_hash(bytes(row["signature"]))


async def test_a_digest_whose_insert_fails_stores_nothing_and_the_next_run_writes_it(
    db: Database, keys: integrity.KeyRing
) -> None:
    """A database that refuses the row (here a trigger) while the root is being computed: the
    digester waits for the INSERT, raises its error, and leaves no row; once the database takes rows
    again, the same interval is digested."""
    trail = await record_in_id_order(db, "refused", ascending=True)
    await execute(
        db,
        "CREATE FUNCTION refuse_digest() RETURNS trigger LANGUAGE plpgsql AS"
        " $$ BEGIN RAISE EXCEPTION 'digests refused by the test'; END $$",
    )
    await execute(
        db, "CREATE TRIGGER refuse_digest BEFORE INSERT ON audit_digests FOR EACH ROW EXECUTE FUNCTION refuse_digest()"
    )
    try:
        with pytest.raises(asyncpg.PostgresError, match="digests refused by the test"):
            await integrity.write_due_digests(
                db, None, keys.signing_key, SCHEDULE, now=datetime.now(UTC) + timedelta(seconds=5)
            )
    finally:
        await execute(db, "DROP TRIGGER refuse_digest ON audit_digests")
        await execute(db, "DROP FUNCTION refuse_digest()")
    async with db.transaction() as session:
        count = (await session.execute(text("SELECT count(*) FROM audit_digests"))).scalar_one()
    assert count == 0
    await digest_everything(db, keys.signing_key)
    row = await digest_row(db, 1, trail.account_id)
    assert bytes(row["merkle_root"]) == documented_root(await stored_pairs(db, trail.account_id))
