"""An account's events matching a search, streamed through a server-side cursor: constant memory.

The rows are selected by the search's own statement (``api.audit.search.search_statement``), so
an export holds exactly what ``searchAuditTrailEntries`` pages through, in the same order.  One
statement in one read transaction, fetched ``batch_size`` rows at a time: planned once (a keyset
query per batch was planned again across every daily partition each time), one consistent
snapshot, and a consumer that stops asking closes the cursor, which ends the query.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import asyncpg
from sqlalchemy import Select, literal, select
from sqlmodel import col

from api.audit.query import Filters, time_before
from api.audit.search import PageRequest, search_statement
from api.db import Database
from api.export.formats import ExportRow
from api.models import AuditEvent
from api.paging import Direction

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

    def statement(self) -> Select[*tuple[Any, ...]]:
        """The whole export's statement; BAD_USER_INPUT for filters the search would refuse."""
        page = PageRequest(
            first=self.batch_size, after=self.after, order_field=self.order_field, direction=self.direction
        )
        statement = search_statement(self.account_id, self.filters, page, now=self.now or datetime.now(UTC))
        # The search's statement reads one page (and a row); an export reads everything it selects.
        return statement.with_only_columns(*EXPORT_COLUMNS).limit(None)

    def time_range(self) -> tuple[datetime | None, datetime | None]:
        """The createdAt bounds the filters set (None for an open end), to name the export by."""
        start: datetime | None = None
        end: datetime | None = None
        for predicate in self.filters.predicates:
            if predicate.field != "createdAt" or predicate.exclude:
                continue
            in_range, in_last = predicate.constraint.time_in_range, predicate.constraint.time_in_last
            if in_range is not None and in_range.start is not None:
                start = _later(start, in_range.start)
            if in_range is not None and in_range.end is not None:
                moment = in_range.end
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
    fixed.statement()
    return fixed


async def export_batches(db: Database, query: ExportQuery) -> AsyncIterator[Sequence[ExportRow]]:
    """The matching rows, ``query.batch_size`` at a time, in the search's order.

    SQLAlchemy builds the statement; asyncpg's own cursor reads it.  Turning each row into a
    SQLAlchemy ``Row`` cost more than reading it (an export ran at a sixth of ``COPY``); asyncpg's
    records are tuples as well, with the columns in ``EXPORT_COLUMNS`` order.
    """
    async with db.transaction() as session:
        connection = await session.connection()
        # SQLAlchemy begins the driver's transaction at its first statement; a cursor needs one.
        await connection.execute(select(literal(1)))
        compiled = query.statement().compile(dialect=connection.dialect, compile_kwargs={"render_postcompile": True})
        arguments = [compiled.params[name] for name in compiled.positiontup or ()]
        driver = (await connection.get_raw_connection()).driver_connection
        assert isinstance(driver, asyncpg.Connection)
        cursor = await driver.cursor(compiled.string, *arguments)
        while rows := await cursor.fetch(query.batch_size):
            yield rows
