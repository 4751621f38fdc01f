"""Rows the digester and the verifier read in bulk (one packed aggregate, a cursor read ahead in
batches) that are not what the service writes: rows from before event hashes and recording times,
forged ids, a stored hash of the wrong length, reordered stored leaves, and an interval of several
fetch batches.  Each is digested without failing and reported exactly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from api import integrity
from api.audit.hashing import PACKED_LEAF_SIZE, Leaves, event_hash
from api.db import Database
from api.integrity.event_checks import FETCH_BATCH
from tests.integrity.support import (
    Trail,
    digest_everything,
    digest_row,
    digest_until,
    execute,
    kinds,
    seed_trail,
    verify,
)

FORGE_FROM = (
    "INSERT INTO audit_events (id, created_at, account_id, action, actor, actor_source, event_type, context, data,"
    " remote_ip, body, recorded_at, event_hash)"
    " SELECT CAST(:forged AS varchar), created_at, account_id, action, actor, actor_source, event_type, context, data,"
    " remote_ip, body, recorded_at, sha256(convert_to(CAST(:forged AS varchar) || body, 'UTF8'))"
    " FROM audit_events WHERE id = :id"
)


async def test_rows_from_before_hashes_and_recording_times_are_digested_from_their_bodies(
    db: Database, keys: integrity.KeyRing
) -> None:
    trail = await seed_trail(db, "legacy", count=4, digest_events=False)
    legacy = trail.event_ids[:2]
    await execute(db, "UPDATE audit_events SET event_hash = NULL WHERE id = ANY(:ids)", ids=legacy)
    await execute(db, "UPDATE audit_events SET recorded_at = NULL WHERE id = :id", id=legacy[0])
    await digest_until(db, keys.signing_key, datetime.now(UTC) + timedelta(seconds=1))
    assert kinds(await verify(db, keys)) == []
    async with db.transaction() as session:
        rows = await session.execute(text("SELECT id, body FROM audit_events WHERE id = ANY(:ids)"), {"ids": legacy})
        bodies = {row.id: row.body for row in rows}
        packed = (await session.execute(text("SELECT string_agg(leaves, ''::bytea) FROM audit_digests"))).scalar_one()
    listed = dict(Leaves.from_stored(packed))
    assert {event_id: listed[event_id] for event_id in legacy} == {i: event_hash(i, bodies[i]) for i in legacy}


async def test_forged_ids_that_cannot_be_leaves_are_unexpected(db: Database, keys: integrity.KeyRing) -> None:
    """Too short, and 26 bytes that are not 26 ASCII characters: neither fits a 58-byte leaf, so the
    digester leaves them out (without failing) and verification names each."""
    trail = await seed_trail(db, "forged", count=2, digest_events=False)
    forged = ["SHORT", "é" + "A" * 24, "ÀÉ" + "B" * 24]
    for forged_id in forged:
        await execute(db, FORGE_FROM, forged=forged_id, id=trail.event_ids[0])
    await digest_everything(db, keys.signing_key)
    report = await verify(db, keys)
    assert {problem.subject_id for problem in report.problems} == set(forged)
    assert {("UNEXPECTED", forged_id) for forged_id in forged} <= set(kinds(report))


async def test_a_stored_hash_of_the_wrong_length_is_modified_and_the_leaves_stay_whole(
    db: Database, keys: integrity.KeyRing
) -> None:
    trail = await seed_trail(db, "short-hash", count=3, digest_events=False)
    target = trail.event_ids[1]
    await execute(db, "UPDATE audit_events SET event_hash = '\\x00'::bytea WHERE id = :id", id=target)
    await digest_everything(db, keys.signing_key)
    first = await digest_row(db, 1, trail.account_id)
    assert len(bytes(first["leaves"])) == 3 * PACKED_LEAF_SIZE
    report = await verify(db, keys)
    assert kinds(report) == [("MODIFIED", target)]
    assert "event_hash" in report.problems[0].detail


async def test_reordered_stored_leaves_are_a_bad_signature(db: Database, keys: integrity.KeyRing, trail: Trail) -> None:
    """The tree's order is part of what was signed: the same leaves stored in another order are an edit."""
    first = await digest_row(db, 1, trail.account_id)
    packed = bytes(first["leaves"])
    swapped = (
        packed[PACKED_LEAF_SIZE : 2 * PACKED_LEAF_SIZE] + packed[:PACKED_LEAF_SIZE] + packed[2 * PACKED_LEAF_SIZE :]
    )
    await execute(db, "UPDATE audit_digests SET leaves = :leaves WHERE id = :id", leaves=swapped, id=first["id"])
    assert kinds(await verify(db, keys)) == [("BAD_SIGNATURE", first["id"])]


async def test_tampering_in_every_fetch_batch_of_a_large_interval_is_found(
    db: Database, keys: integrity.KeyRing
) -> None:
    """Several batches of the read-ahead cursor: none is skipped or checked twice."""
    count = 2 * FETCH_BATCH + FETCH_BATCH // 4
    trail = await seed_trail(db, "busy", count=count, digest_events=False)
    await digest_everything(db, keys.signing_key)
    clean = await verify(db, keys)
    assert kinds(clean) == []
    assert clean.events_checked == count
    targets = [trail.event_ids[0], trail.event_ids[FETCH_BATCH + 1], trail.event_ids[-1]]
    await execute(db, "UPDATE audit_events SET actor = 'api::intruder' WHERE id = ANY(:ids)", ids=targets)
    report = await verify(db, keys)
    assert kinds(report) == sorted(("MODIFIED", target) for target in targets)
    assert report.events_checked == count
