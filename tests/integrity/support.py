"""Seeding, digesting on the real clock, tampering behind the service's back, and copying the trail out."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text

from api import integrity
from api.accounts import accounts as account_store
from api.audit.record import EventDraft, now_ms, record_events
from api.db import Database
from api.integrity.statement import LEAVES_PER_EVENT, DigestStatement
from api.models import EventType

SCHEDULE = integrity.DigestSchedule(interval_seconds=1, grace_seconds=0.2)
"""One-second intervals: a test waits about a second for its events to be digested."""


@dataclass(frozen=True)
class Trail:
    account_id: str
    account_name: str
    event_ids: list[str]


RECORDED_SECONDS_AGO = 3.0
"""How long ago ``seed_trail``'s events are recorded: their interval and the next one are already
closed, so they are digested at once instead of after a wait on the clock."""


async def seed_trail(db: Database, name: str = "acme", *, count: int = 5, digest_events: bool = True) -> Trail:
    """An account (made unless it exists) and ``count`` events, recorded as the service records them,
    ``RECORDED_SECONDS_AGO`` in the past (so an account digested already must not be seeded again:
    its new events would land in a digested interval)."""
    recorded_at_ms = now_ms() - int(RECORDED_SECONDS_AGO * 1000)
    async with db.transaction() as session:
        account = await account_store.find_account(session, name) or await account_store.create_account(
            session, name, retention_days=30
        )
        account.digest_events = digest_events
        await session.flush()
        drafts = [
            EventDraft(
                action="stack.update",
                actor="api::tester",
                timestamp_ms=recorded_at_ms - index,
                event_type=EventType.UPDATE,
                data={"index": index, "note": "naïve ✓"},
                remote_ip="203.0.113.7",
                recorded_at_ms=recorded_at_ms,
            )
            for index in range(count)
        ]
        batch = await record_events(session, drafts, account_id=account.id, account_name=name, recorded_by=None)
    return Trail(account.id, name, [event.id for event in batch.events])


async def digest_everything(db: Database, signing_key: integrity.SigningKey) -> None:
    """Run the digester until every event recorded so far (digest events aside) is in a digest."""
    async with db.transaction() as session:
        last_recorded = (
            await session.execute(
                text("SELECT max(recorded_at) FROM audit_events WHERE action <> 'audit_trail.digest'")
            )
        ).scalar_one()
    await digest_until(db, signing_key, last_recorded)


async def digest_until(
    db: Database, signing_key: integrity.SigningKey, moment: datetime, *, leaves_per_event: int = LEAVES_PER_EVENT
) -> None:
    """Run the digester (polling, on the real clock) until the digests reach past ``moment``."""
    deadline = time.monotonic() + 20
    while True:
        await integrity.write_due_digests(db, None, signing_key, SCHEDULE, leaves_per_event=leaves_per_event)
        async with db.transaction() as session:
            covered = (await session.execute(text("SELECT max(interval_end) FROM audit_digests"))).scalar_one()
        if covered is not None and covered > moment:
            return
        assert time.monotonic() < deadline, "the digester did not get past the moment in time"
        await asyncio.sleep(0.1)


async def execute(db: Database, statement: str, **params: Any) -> None:
    """Tamper with the database directly, as someone with only database access would."""
    async with db.transaction() as session:
        await session.execute(text(statement), params)


async def verify(db: Database, keys: integrity.KeyRing, account: str | None = None) -> integrity.VerifyReport:
    """What ``audittrail verify`` computes."""
    accounts = await integrity.accounts_to_verify(db, account)
    return await integrity.verify_database(db, accounts, keys.by_id())


def kinds(report: integrity.VerifyReport) -> list[tuple[str, str]]:
    """(kind, id) of every problem, sorted: what a test compares with exactly what it tampered."""
    return sorted((problem.kind.value, problem.subject_id) for problem in report.problems)


async def digest_row(db: Database, sequence: int, account_id: str) -> dict[str, Any]:
    async with db.transaction() as session:
        row = (
            await session.execute(
                text("SELECT * FROM audit_digests WHERE account_id = :a AND sequence = :s"),
                {"a": account_id, "s": sequence},
            )
        ).one()
    return dict(row._mapping)


def statement_of(row: dict[str, Any], account_name: str) -> DigestStatement:
    """The statement a stored digest row says was signed."""
    previous = row["previous_digest_hash"]
    return DigestStatement(
        account_id=row["account_id"],
        account=account_name,
        sequence=row["sequence"],
        interval_start=row["interval_start"],
        interval_end=row["interval_end"],
        event_count=row["event_count"],
        merkle_root=bytes(row["merkle_root"]),
        previous_digest_hash=bytes(previous) if previous is not None else None,
        key_id=row["key_id"],
    )


async def export_copy(db: Database, directory: Path) -> Path:
    """Every event as the S3 receiver's NDJSON batches write them: ``{"eventId":…,"body":<bytes>}``."""
    async with db.transaction() as session:
        rows = (await session.execute(text("SELECT id, body FROM audit_events ORDER BY id"))).all()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"batch-{datetime.now(UTC):%H%M%S}.ndjson"
    path.write_bytes(b"".join(b'{"eventId":"' + r.id.encode() + b'","body":' + r.body.encode() + b"}\n" for r in rows))
    return path
