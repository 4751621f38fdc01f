"""An account's events matching a search, read in keyset batches: constant memory at any size.

The rows are selected by the search's own statement (``api.audit.search.search_statement``), so
an export holds exactly what ``searchAuditTrailEntries`` pages through, in the same order.  Each
batch is read in a short transaction of its own: a long export never holds a snapshot, a pooled
connection or a lock between batches, and a consumer that stops asking stops the reading.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, Select
from sqlmodel import col

from api.audit.query import Filters, time_before
from api.audit.search import PageRequest, search_statement
from api.db import Database
from api.models import AuditEvent
from api.paging import Cursor, Direction, encode_cursor

DEFAULT_BATCH_SIZE = 2000

EXPORT_COLUMNS = (
    col(AuditEvent.id),
    col(AuditEvent.created_at),
    col(AuditEvent.action),
    col(AuditEvent.event_type),
    col(AuditEvent.actor),
    col(AuditEvent.affected_resource_type),
    col(AuditEvent.affected_resource_id),
    col(AuditEvent.related_resource_type),
    col(AuditEvent.related_resource_id),
    col(AuditEvent.remote_ip),
    col(AuditEvent.body),
)
"""Plain columns, not ORM entities: building an ``AuditEvent`` per row would cost more than reading it."""

ExportedRow = Row[tuple[str, datetime, str, str, str, str | None, str | None, str | None, str | None, str | None, str]]


@dataclass(frozen=True)
class ExportQuery:
    """What to export: the account, the search's filters and order, and where to start."""

    account_id: str
    filters: Filters
    direction: Direction = Direction.DESC
    order_field: str = "createdAt"
    after: str | None = None
    batch_size: int = DEFAULT_BATCH_SIZE
    now: datetime | None = None
    """The moment ``timeInLast`` counts back from; fixed once so every batch agrees."""

    def statement(self, after: str | None) -> Select[*tuple[Any, ...]]:
        """One batch's statement; BAD_USER_INPUT for filters the search would refuse."""
        page = PageRequest(first=self.batch_size, after=after, order_field=self.order_field, direction=self.direction)
        statement = search_statement(self.account_id, self.filters, page, now=self.now or datetime.now(UTC))
        # search_statement reads one row more than a page, to know whether there is a next page;
        # an export stops at its first short batch instead.
        return statement.with_only_columns(*EXPORT_COLUMNS).limit(self.batch_size)

    def time_range(self) -> tuple[datetime | None, datetime | None]:
        """The createdAt bounds the filters set (None for an open end), to name the export by."""
        start: datetime | None = None
        end: datetime | None = None
        for predicate in self.filters.predicates:
            if predicate.field != "createdAt" or predicate.exclude:
                continue
            in_range, in_last = predicate.constraint.time_in_range, predicate.constraint.time_in_last
            if in_range is not None and in_range.start is not None:
                start = _later(start, datetime.fromtimestamp(in_range.start, UTC))
            if in_range is not None and in_range.end is not None:
                moment = datetime.fromtimestamp(in_range.end, UTC)
                end = moment if end is None else min(end, moment)
            if in_last is not None:
                start = _later(start, time_before(self.now or datetime.now(UTC), in_last))
        return start, end


def _later(current: datetime | None, candidate: datetime) -> datetime:
    return candidate if current is None else max(current, candidate)


def prepared(query: ExportQuery) -> ExportQuery:
    """``query`` with its moment fixed, checked by building its first statement (BAD_USER_INPUT
    surfaces here, before a response has started, not halfway through a stream)."""
    fixed = replace(query, now=query.now or datetime.now(UTC))
    fixed.statement(fixed.after)
    return fixed


async def export_batches(db: Database, query: ExportQuery) -> AsyncIterator[Sequence[ExportedRow]]:
    """The matching rows, ``query.batch_size`` at a time, in the search's order."""
    after = query.after
    while True:
        async with db.transaction() as session:
            rows: Sequence[ExportedRow] = (await session.execute(query.statement(after))).all()
        if rows:
            yield rows
        if len(rows) < query.batch_size:
            return
        last = rows[-1]
        after = encode_cursor(Cursor(last.created_at, last.id, query.direction))
