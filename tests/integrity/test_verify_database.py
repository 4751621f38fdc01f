"""``audittrail verify`` against the real database, tampered behind the service's back: each kind of
tampering is reported exactly, with the id it concerns; an untouched database verifies clean."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import SecretStr
from sqlalchemy import text

from api import integrity
from api.audit.hashing import event_hash, merkle_root, pack_leaves, unpack_leaves
from api.audit.record import EventDraft, record_events
from api.audit.retention import apply_retention
from api.db import Database
from api.models import EventType
from api.settings import Settings
from tests.integrity.support import (
    Trail,
    digest_everything,
    digest_row,
    digest_until,
    execute,
    kinds,
    seed_trail,
    statement_of,
    verify,
)


async def test_untouched_database_verifies_clean_with_empty_intervals_digested(
    db: Database, keys: integrity.KeyRing, trail: Trail
) -> None:
    # Past the first run's digest events; the seeded events' next interval was empty.
    await digest_until(db, keys.signing_key, datetime.now(UTC))
    report = await verify(db, keys)
    assert kinds(report) == []
    assert report.events_checked >= len(trail.event_ids)
    assert report.digests_checked >= 3  # the seeded interval, an empty one, the digest events' one
    assert report.verified_until is not None


async def test_digests_chain_and_cover_every_event_once(db: Database, keys: integrity.KeyRing, trail: Trail) -> None:
    first, second = await digest_row(db, 1, trail.account_id), await digest_row(db, 2, trail.account_id)
    assert first["previous_digest_hash"] is None
    assert bytes(second["previous_digest_hash"]) == bytes(first["digest_hash"])
    assert second["interval_start"] == first["interval_end"]
    assert first["event_count"] == len(trail.event_ids)
    assert keys.signing_key.public.verifies(bytes(first["signature"]), statement_of(first, "acme").signed_bytes())


async def test_running_the_digester_again_writes_nothing_twice(
    db: Database, keys: integrity.KeyRing, trail: Trail
) -> None:
    now = datetime.now(UTC)
    again = await integrity.write_due_digests(
        db, None, keys.signing_key, integrity.DigestSchedule(interval_seconds=1, grace_seconds=0.2), now=now
    )
    rerun = await integrity.write_due_digests(
        db, None, keys.signing_key, integrity.DigestSchedule(interval_seconds=1, grace_seconds=0.2), now=now
    )
    assert rerun.written == []
    sequences = [digest.statement.sequence for digest in again.written]
    assert sequences == sorted(set(sequences))


async def test_event_hash_is_written_by_the_insert(db: Database, trail: Trail) -> None:
    async with db.transaction() as session:
        statement = text("SELECT body, event_hash FROM audit_events WHERE id = :id")
        row = (await session.execute(statement, {"id": trail.event_ids[0]})).one()
    assert bytes(row.event_hash) == event_hash(trail.event_ids[0], row.body)


async def test_edited_body_is_modified(db: Database, keys: integrity.KeyRing, trail: Trail) -> None:
    target = trail.event_ids[2]
    await execute(
        db, "UPDATE audit_events SET body = replace(body, 'stack.update', 'stack.delete') WHERE id = :id", id=target
    )
    assert kinds(await verify(db, keys)) == [("MODIFIED", target)]


async def test_edited_body_with_its_hash_recomputed_is_modified(
    db: Database, keys: integrity.KeyRing, trail: Trail
) -> None:
    target = trail.event_ids[1]
    await execute(
        db,
        "UPDATE audit_events SET body = replace(body, '203.0.113.7', '198.51.100.1'),"
        " remote_ip = '198.51.100.1' WHERE id = :id",
        id=target,
    )
    await execute(
        db, "UPDATE audit_events SET event_hash = sha256(convert_to(id || body, 'UTF8')) WHERE id = :id", id=target
    )
    assert kinds(await verify(db, keys)) == [("MODIFIED", target)]


async def test_edited_searched_column_is_modified(db: Database, keys: integrity.KeyRing, trail: Trail) -> None:
    target = trail.event_ids[0]
    await execute(db, "UPDATE audit_events SET actor = 'api::someone-else' WHERE id = :id", id=target)
    report = await verify(db, keys)
    assert kinds(report) == [("MODIFIED", target)]
    assert "actor" in report.problems[0].detail


async def test_deleted_event_is_missing(db: Database, keys: integrity.KeyRing, trail: Trail) -> None:
    target = trail.event_ids[3]
    await execute(db, "DELETE FROM audit_events WHERE id = :id", id=target)
    assert kinds(await verify(db, keys)) == [("MISSING", target)]


async def test_forged_event_in_a_digested_interval_is_unexpected(
    db: Database, keys: integrity.KeyRing, trail: Trail
) -> None:
    forged = "01" + trail.event_ids[0][2:-2] + "ZZ"
    await execute(
        db,
        "INSERT INTO audit_events (id, created_at, account_id, action, actor, actor_source, event_type, context,"
        " data, remote_ip, body, recorded_at, event_hash)"
        " SELECT CAST(:forged AS varchar), created_at, account_id, action, actor, actor_source, event_type, context,"
        " data, remote_ip, body, recorded_at, sha256(convert_to(CAST(:forged AS varchar) || body, 'UTF8'))"
        " FROM audit_events WHERE id = :id",
        forged=forged,
        id=trail.event_ids[0],
    )
    report = await verify(db, keys)
    assert ("UNEXPECTED", forged) in kinds(report)
    assert {problem.subject_id for problem in report.problems} == {forged}


async def test_event_committed_late_into_a_digested_interval_is_unexpected(
    db: Database, keys: integrity.KeyRing, trail: Trail
) -> None:
    """A transaction open across an interval's end past the grace: its event lands in a closed interval."""
    first = await digest_row(db, 1, trail.account_id)
    async with db.transaction() as session:
        batch = await record_events(
            session,
            [EventDraft(action="stack.update", actor="api::late", timestamp_ms=1, event_type=EventType.UPDATE)],
            account_id=trail.account_id,
            account_name=trail.account_name,
            recorded_by=None,
        )
        await session.execute(
            text("UPDATE audit_events SET recorded_at = :at WHERE id = :id"),
            {"at": first["interval_start"], "id": batch.events[0].id},
        )
    assert kinds(await verify(db, keys)) == [("UNEXPECTED", batch.events[0].id)]


async def test_edited_digest_has_a_bad_signature(db: Database, keys: integrity.KeyRing, trail: Trail) -> None:
    first = await digest_row(db, 1, trail.account_id)
    await execute(db, "UPDATE audit_digests SET event_count = event_count - 1 WHERE id = :id", id=first["id"])
    assert kinds(await verify(db, keys)) == [("BAD_SIGNATURE", first["id"])]


async def test_digest_resigned_with_another_key_has_a_bad_signature(
    db: Database, keys: integrity.KeyRing, trail: Trail
) -> None:
    """The attacker drops an event, recomputes the root and signs with a key of their own."""
    first = await digest_row(db, 1, trail.account_id)
    dropped = trail.event_ids[4]
    await execute(db, "DELETE FROM audit_events WHERE id = :id", id=dropped)
    other = integrity.SigningKey(Ed25519PrivateKey.generate())
    leaves = [leaf for leaf in unpack_leaves(bytes(first["leaves"])) if leaf[0] != dropped]
    forged_row = {**first, "event_count": len(leaves), "merkle_root": merkle_root(leaves)}
    forged_row["key_id"] = other.public.key_id
    signature = other.sign(statement_of(forged_row, trail.account_name).signed_bytes())
    await execute(
        db,
        "UPDATE audit_digests SET event_count = :count, merkle_root = :root, key_id = :key_id, signature = :signature,"
        " leaves = :leaves WHERE id = :id",
        count=len(leaves),
        root=merkle_root(leaves),
        key_id=other.public.key_id,
        signature=signature,
        leaves=pack_leaves(leaves),
        id=first["id"],
    )
    report = await verify(db, keys)
    assert kinds(report) == [("BAD_SIGNATURE", first["id"])]
    assert "unknown key id" in report.problems[0].detail


async def test_deleted_digest_is_digest_missing(db: Database, keys: integrity.KeyRing, trail: Trail) -> None:
    # Digests after the one deleted: the newest digest's deletion is a documented blind spot.
    await digest_until(db, keys.signing_key, datetime.now(UTC))
    second = await digest_row(db, 2, trail.account_id)
    await execute(db, "DELETE FROM audit_digests WHERE id = :id", id=second["id"])
    report = await verify(db, keys)
    assert kinds(report) == [("DIGEST_MISSING", f"{trail.account_name}#2")]


async def test_retention_removes_events_without_a_problem(
    db: Database, keys: integrity.KeyRing, settings: Settings
) -> None:
    """Events deleted by retention are reported as expired, never as missing."""
    trail = await seed_trail(db, "initech", count=2)
    async with db.transaction() as session:
        old = await record_events(
            session,
            [
                EventDraft(
                    action="stack.update",
                    actor="api::tester",
                    timestamp_ms=int((datetime.now(UTC) - timedelta(days=40)).timestamp() * 1000),
                    event_type=EventType.UPDATE,
                )
            ],
            account_id=trail.account_id,
            account_name=trail.account_name,
            recorded_by=None,
        )
    await digest_everything(db, keys.signing_key)
    await apply_retention(db, default_retention_days=settings.default_retention_days)
    report = await verify(db, keys)
    assert kinds(report) == []
    assert report.expired_event_ids == [old.events[0].id]


async def test_retired_key_still_verifies_old_digests(db: Database, settings: Settings, trail: Trail) -> None:
    """After a rotation the old public key, listed as retired, keeps the old digests verifiable."""
    old_public_pem = integrity.KeyRing.from_settings(settings).signing_key.public.pem
    new_key = Ed25519PrivateKey.generate()
    new_pem = new_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    rotated = integrity.KeyRing.from_settings(
        settings.model_copy(
            update={"digest_signing_key": SecretStr(new_pem), "digest_retired_public_keys": [old_public_pem]}
        )
    )
    await seed_trail(db, "globex", count=1)
    await digest_everything(db, rotated.signing_key)
    assert kinds(await verify(db, rotated)) == []
    without_retired = integrity.KeyRing(signing_key=rotated.signing_key)
    assert {kind for kind, _ in kinds(await verify(db, without_retired))} == {"BAD_SIGNATURE"}
