"""Retention: remove events (and their webhook deliveries) older than their account keeps them.

Daily partitions hold every account's events, so a partition can be dropped only once it is
older than the *longest* retention of any account; that is the cheap bulk path.  What is left
(accounts keeping less than the longest, the partial day at the edge, the default partition) is
deleted row by row in bounded batches, one short transaction per batch.  Deliveries go before
their events so that no delivery is ever left pointing at an event that is gone; the external id
an event was ingested under goes with it (in the same statement, or before its partition is
dropped), so no id keeps answering for an event that is gone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import structlog
from sqlalchemy import TextClause, text
from sqlalchemy.exc import DBAPIError

from api.db import Database

log = structlog.get_logger(__name__)

DEFAULT_BATCH_SIZE = 5000
PARTITION_NAME = re.compile(r"^audit_events_p(\d{8})$")
# A DROP waits for the parent table's lock; give up quickly rather than stall inserts behind it.
DROP_LOCK_TIMEOUT = "5s"


@dataclass
class AccountRetention:
    account_id: str
    account_name: str
    retention_days: int


@dataclass
class RetentionReport:
    cutoff_for_partitions: datetime
    dropped_partitions: list[str] = field(default_factory=list)
    skipped_partitions: list[str] = field(default_factory=list)
    """Partitions whose DROP could not get its lock in time; the next run tries again."""
    deleted_events: dict[str, int] = field(default_factory=dict)
    """Rows deleted one by one, per account name (rows of dropped partitions are not counted)."""
    deleted_deliveries: int = 0


_LIST_PARTITIONS = text(
    """
    SELECT c.relname
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'audit_events'::regclass
    ORDER BY c.relname
    """
)

# Each batch deletes by ctid (a TID scan of exactly the rows picked): ``id IN (...)`` made the
# planner hash-join the batch against a scan of the whole table, once per batch.
_DELETE_DELIVERIES_BEFORE = text(
    """
    WITH gone AS (
        DELETE FROM webhook_deliveries
        WHERE ctid = ANY(ARRAY(
            SELECT ctid FROM webhook_deliveries WHERE event_created_at < :before LIMIT :batch_size
        ))
        RETURNING 1
    )
    SELECT count(*) FROM gone
    """
)

_DELETE_ACCOUNT_DELIVERIES = text(
    """
    WITH gone AS (
        DELETE FROM webhook_deliveries
        WHERE ctid = ANY(ARRAY(
            SELECT ctid FROM webhook_deliveries
            WHERE account_id = :account_id AND event_created_at < :before
            LIMIT :batch_size
        ))
        RETURNING 1
    )
    SELECT count(*) FROM gone
    """
)

_DELETE_EXTERNAL_IDS_BEFORE = text(
    """
    WITH gone AS (
        DELETE FROM audit_event_external_ids
        WHERE ctid = ANY(ARRAY(
            SELECT ctid FROM audit_event_external_ids WHERE event_created_at < :before LIMIT :batch_size
        ))
        RETURNING 1
    )
    SELECT count(*) FROM gone
    """
)

# The repeated account/time condition on the DELETE lets the planner skip partitions that
# cannot hold expired rows instead of probing every one of them for each id.
_DELETE_ACCOUNT_EVENTS = text(
    """
    WITH doomed AS MATERIALIZED (
        SELECT id, created_at FROM audit_events
        WHERE account_id = :account_id AND created_at < :before
        LIMIT :batch_size
    ), unclaimed AS (
        DELETE FROM audit_event_external_ids x USING doomed d
        WHERE x.account_id = :account_id AND x.event_created_at = d.created_at AND x.event_id = d.id
    ), gone AS (
        DELETE FROM audit_events e USING doomed d
        WHERE e.account_id = :account_id AND e.created_at < :before
          AND e.id = d.id AND e.created_at = d.created_at
        RETURNING 1
    )
    SELECT count(*) FROM gone
    """
)


def partition_day(name: str) -> date | None:
    """The day a daily partition holds, from its name (``audit_events_pYYYYMMDD``)."""
    match = PARTITION_NAME.match(name)
    return datetime.strptime(match.group(1), "%Y%m%d").replace(tzinfo=UTC).date() if match else None


def day_end(day: date) -> datetime:
    """The first instant after ``day`` (UTC): a daily partition holds times before it."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)


async def account_retentions(db: Database) -> list[AccountRetention]:
    """Every account with its retention: what each retention run works through."""
    async with db.transaction() as session:
        rows = await session.execute(text("SELECT id, name, retention_days FROM accounts ORDER BY name"))
        return [AccountRetention(str(r.id), str(r.name), int(r.retention_days)) for r in rows]


async def expired_partitions(db: Database, cutoff: datetime) -> list[tuple[str, datetime]]:
    """Daily partitions whose every row is older than ``cutoff``, with the end of their day."""
    async with db.transaction() as session:
        names = [str(name) for name in (await session.execute(_LIST_PARTITIONS)).scalars()]
    expired = []
    for name in names:
        day = partition_day(name)
        if day is not None and day_end(day) <= cutoff:
            expired.append((name, day_end(day)))
    return expired


async def _delete_in_batches(db: Database, statement: TextClause, params: dict[str, object], batch_size: int) -> int:
    """Run a ``LIMIT :batch_size`` delete in one transaction per batch until a batch deletes nothing.

    Not "until a batch comes up short": a row picked by ctid that a worker updates meanwhile is
    skipped by that batch (its ctid changed) and must be taken by the next one, before its
    event's partition is dropped.
    """
    total = 0
    while True:
        async with db.transaction() as session:
            deleted = int((await session.execute(statement, {**params, "batch_size": batch_size})).scalar_one())
        if deleted == 0:
            return total
        total += deleted


async def drop_partition(db: Database, name: str) -> bool:
    """Drop one partition; False when its lock could not be had within ``DROP_LOCK_TIMEOUT``."""
    try:
        async with db.transaction() as session:
            await session.execute(text(f"SET LOCAL lock_timeout = '{DROP_LOCK_TIMEOUT}'"))
            # The name comes from pg_class and matched PARTITION_NAME: digits and a fixed prefix.
            await session.execute(text(f'DROP TABLE IF EXISTS "{name}"'))
    except DBAPIError as error:
        log.warning("could not drop expired partition; retrying next run", partition=name, error=str(error))
        return False
    return True


async def apply_retention(
    db: Database, *, now: datetime | None = None, default_retention_days: int = 30, batch_size: int = DEFAULT_BATCH_SIZE
) -> RetentionReport:
    """Remove every event older than its account's retention, and the deliveries of those events."""
    moment = now or datetime.now(UTC)
    accounts = await account_retentions(db)
    longest = max((a.retention_days for a in accounts), default=default_retention_days)
    report = RetentionReport(cutoff_for_partitions=moment - timedelta(days=longest))
    for name, end in await expired_partitions(db, report.cutoff_for_partitions):
        report.deleted_deliveries += await _delete_in_batches(
            db, _DELETE_DELIVERIES_BEFORE, {"before": end}, batch_size
        )
        await _delete_in_batches(db, _DELETE_EXTERNAL_IDS_BEFORE, {"before": end}, batch_size)
        (report.dropped_partitions if await drop_partition(db, name) else report.skipped_partitions).append(name)
    for account in accounts:
        params = {"account_id": account.account_id, "before": moment - timedelta(days=account.retention_days)}
        report.deleted_deliveries += await _delete_in_batches(db, _DELETE_ACCOUNT_DELIVERIES, params, batch_size)
        deleted = await _delete_in_batches(db, _DELETE_ACCOUNT_EVENTS, params, batch_size)
        if deleted:
            report.deleted_events[account.account_name] = deleted
    return report
