"""Which events each subscriber wants: the search's own SQL, one statement.

The filters are not re-implemented in Python: every distinct filter's ``filter_condition`` (the
very condition ``searchAuditTrailEntries`` uses) becomes one boolean column of a statement that
reads the rows once, so a live subscriber and the search can never disagree on a match.
Subscribers with equal filters (typically ``input: {}``) share one column.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped
from sqlmodel import col

from api.audit.query import Filters, filter_condition
from api.audit.search import ONE_MS, created_at_of
from api.models import AuditEvent


@dataclass(frozen=True)
class Matched:
    """One event and, per subscriber (in the order given), whether it matches."""

    event: AuditEvent
    matches: tuple[bool, ...]


async def match_events(
    session: AsyncSession, account_id: str, event_ids: Sequence[str], filters: Sequence[Filters]
) -> list[Matched]:
    """The account's events among ``event_ids``, oldest first, each with one flag per filter."""
    times = [moment for moment in map(created_at_of, event_ids) if moment is not None]
    if not times or not filters:
        return []
    wanted = [
        col(AuditEvent.account_id) == account_id,
        col(AuditEvent.id).in_(list(event_ids)),
        # The ids' own times bound the partitions read (a millisecond either side, as get_event).
        col(AuditEvent.created_at).between(min(times) - ONE_MS, max(times) + ONE_MS),
    ]
    return await _matched(session, filters, wanted, order_by=col(AuditEvent.created_at))


async def match_recorded_since(
    session: AsyncSession, account_id: str, since: datetime, filters: Sequence[Filters], *, limit: int
) -> list[Matched]:
    """The account's events recorded at ``since`` or later (a catch-up), in recording order, at most
    ``limit``, each with one flag per filter (index ``audit_events_account_recorded``)."""
    if not filters:
        return []
    wanted = [col(AuditEvent.account_id) == account_id, col(AuditEvent.recorded_at) >= since]
    return await _matched(session, filters, wanted, order_by=col(AuditEvent.recorded_at), limit=limit)


async def _matched(
    session: AsyncSession,
    filters: Sequence[Filters],
    wanted: list[ColumnElement[bool]],
    *,
    order_by: Mapped[datetime] | Mapped[datetime | None],
    limit: int | None = None,
) -> list[Matched]:
    now = datetime.now(UTC)
    columns: dict[str, int] = {}
    conditions: list[ColumnElement[bool]] = []
    for one in filters:
        key = repr(one)  # equal filters, equal repr (frozen dataclasses of plain values)
        if key not in columns:
            columns[key] = len(conditions)
            conditions.append(filter_condition(one, now=now).label(f"match_{len(conditions)}"))
    column_of = [columns[repr(one)] for one in filters]
    statement = select(AuditEvent, *conditions).where(*wanted).order_by(order_by, col(AuditEvent.id)).limit(limit)
    rows = (await session.execute(statement)).all()
    return [Matched(event=row[0], matches=tuple(bool(row[1 + column]) for column in column_of)) for row in rows]
