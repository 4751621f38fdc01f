"""How PostgreSQL stores an event's large values (migration 0013): out of line and never compressed,
on every partition, those made later included, so that no CPU goes into pglz attempts on digest
listings it cannot shrink."""

from __future__ import annotations

import os

from sqlalchemy import text

from api.accounts import accounts as account_store
from api.audit.record import EventDraft, now_ms, record_events
from api.db import Database
from api.models import EventType

STORAGE_OF_PARTITIONS = """
SELECT DISTINCT attribute.attstorage::text
FROM pg_inherits
JOIN pg_attribute attribute ON attribute.attrelid = pg_inherits.inhrelid
WHERE pg_inherits.inhparent = 'audit_events'::regclass AND attribute.attname IN ('body', 'data')
"""


async def test_body_and_data_are_external_on_the_table_and_every_partition(db: Database) -> None:
    async with db.transaction() as session:
        parent = await session.execute(
            text(
                "SELECT attname, attstorage::text FROM pg_attribute"
                " WHERE attrelid = 'audit_events'::regclass AND attname IN ('body', 'data') ORDER BY attname"
            )
        )
        assert [tuple(row) for row in parent] == [("body", "e"), ("data", "e")]
        assert [row[0] for row in await session.execute(text(STORAGE_OF_PARTITIONS))] == ["e"]
        # A partition made after the migration (here in a transaction rolled back) takes the same.
        await session.execute(text("SELECT audit_events_ensure_partitions(DATE '2199-01-01', 1)"))
        made = await session.execute(
            text(
                "SELECT attstorage::text FROM pg_attribute"
                " WHERE attrelid = 'audit_events_p21990101'::regclass AND attname IN ('body', 'data')"
            )
        )
        assert [row[0] for row in made] == ["e", "e"]
        await session.rollback()


async def test_a_large_compressible_event_is_stored_whole_and_read_back_unchanged(db: Database) -> None:
    """The price of the choice, pinned: a 40 KB value pglz would have shrunk is stored uncompressed."""
    note = "the same sentence again and again; " * 1200 + os.urandom(8).hex()
    async with db.transaction() as session:
        account = await account_store.create_account(session, "storage", retention_days=30)
        draft = EventDraft(
            action="stack.update",
            actor="api::tester",
            timestamp_ms=now_ms(),
            event_type=EventType.UPDATE,
            data={"note": note},
        )
        (event,) = (
            await record_events(session, [draft], account_id=account.id, account_name="storage", recorded_by=None)
        ).events
    async with db.transaction() as session:
        stored = (
            await session.execute(
                text(
                    "SELECT pg_column_compression(body) AS body_compression,"
                    " pg_column_compression(data) AS data_compression, data->>'note' AS note,"
                    " octet_length(body) AS body_bytes"
                    " FROM audit_events WHERE id = :id"
                ),
                {"id": event.id},
            )
        ).one()
    assert stored.body_compression is None and stored.data_compression is None
    assert stored.note == note and stored.body_bytes > len(note)
