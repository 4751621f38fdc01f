"""Reading the events recorded in a range of recording time and checking each against its own body:
the part of ``audittrail verify`` that touches every event, so the part its speed depends on."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession

from api.audit.hashing import event_hash
from api.db import driver_connection
from api.integrity.columns import StoredEvent, disagreements
from api.integrity.problems import ProblemKind, VerifyReport

FETCH_BATCH = 2000
"""Rows per fetch: a batch is checked in about 20 ms, so memory stays small and the read-ahead short."""

# As in the digester (api/integrity/digester.py): recording time is coalesce(recorded_at, created_at),
# read through the two indexes that serve each half.  Columns in ``StoredEvent``'s order; asyncpg's $n.
# The body as its UTF-8 bytes, which are what is hashed: no decoding to str and encoding back per event.
_EVENTS_RECORDED_IN = """
    SELECT id, (extract(epoch FROM created_at) * 1000000)::bigint, action, actor, actor_source, context::text,
           data::text, remote_ip, convert_to(body, 'UTF8'), event_hash FROM audit_events
    WHERE account_id = $1 AND recorded_at >= $2 AND recorded_at < $3
    UNION ALL
    SELECT id, (extract(epoch FROM created_at) * 1000000)::bigint, action, actor, actor_source, context::text,
           data::text, remote_ip, convert_to(body, 'UTF8'), event_hash FROM audit_events
    WHERE account_id = $1 AND recorded_at IS NULL AND created_at >= $2 AND created_at < $3
"""


@dataclass
class EventChecks:
    """One range's events checked: the problems go to ``report``, the recomputed hashes to ``found``."""

    report: VerifyReport
    account_name: str
    found: dict[str, bytes] = field(default_factory=dict)
    """Event id → SHA-256 of its id and body as stored now."""

    def check(self, rows: list[asyncpg.Record]) -> None:
        """Check one batch: its hashes and every compared column, each disagreement a MODIFIED problem."""
        self.report.events_checked += len(rows)
        found, account_name = self.found, self.account_name
        for row in rows:
            event = StoredEvent._make(row)
            actual = event_hash(event.id, event.body)
            wrong = disagreements(event, account_name, actual)
            if wrong:
                detail = f"disagrees with its body: {', '.join(wrong)}"
                self.report.add(ProblemKind.MODIFIED, event.id, account_name, detail)
            found[event.id] = actual


async def check_events_recorded_in(
    session: AsyncSession, report: VerifyReport, account_id: str, account_name: str, start: datetime, end: datetime
) -> dict[str, bytes]:
    """Check every event recorded in ``[start, end)`` against its own body; return id → recomputed hash.

    Rows come from a cursor on the session's own asyncpg connection (same transaction): asyncpg's
    records cost a fraction of SQLAlchemy's rows, and each fetch is a statement of its own, under
    the statement timeout.  The next batch is asked for before this one is checked, and the check
    runs in a thread: PostgreSQL reads ahead on its core meanwhile, and the event loop stays free
    (asyncpg receiving, and in the API every other request) instead of stalling for each batch.
    """
    checks = EventChecks(report, account_name)
    driver = await driver_connection(session)
    cursor = await driver.cursor(_EVENTS_RECORDED_IN, account_id, start, end)
    rows = await cursor.fetch(FETCH_BATCH)
    while rows:
        next_rows = asyncio.ensure_future(cursor.fetch(FETCH_BATCH))
        try:
            await asyncio.to_thread(checks.check, rows)
        except BaseException:
            next_rows.cancel()
            raise
        rows = await next_rows
    return checks.found
