"""Which of a notification's events each subscriber wants: the search's own SQL, one statement.

The filters are not re-implemented in Python: every subscriber's ``filter_condition`` (the very
condition ``searchAuditTrailEntries`` uses) becomes one boolean column of a statement that reads
the notified rows once, so a live subscriber and the search can never disagree on a match.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from api.audit.query import Filters, filter_condition
from api.audit.search import ONE_MS, created_at_of
from api.models import AuditEvent


@dataclass(frozen=True)
class Matched:
    """One notified event and, per subscriber (in the order given), whether it matches."""

    event: AuditEvent
    matches: tuple[bool, ...]


async def match_events(
    session: AsyncSession, account_id: str, event_ids: Sequence[str], filters: Sequence[Filters]
) -> list[Matched]:
    """The account's events among ``event_ids``, oldest first, each with one flag per filter."""
    times = [moment for moment in map(created_at_of, event_ids) if moment is not None]
    if not times or not filters:
        return []
    now = datetime.now(UTC)
    flags: list[ColumnElement[bool]] = [
        filter_condition(wanted, now=now).label(f"match_{index}") for index, wanted in enumerate(filters)
    ]
    statement = (
        select(AuditEvent, *flags)
        .where(
            col(AuditEvent.account_id) == account_id,
            col(AuditEvent.id).in_(list(event_ids)),
            # The ids' own times bound the partitions read (a millisecond either side, as get_event).
            col(AuditEvent.created_at).between(min(times) - ONE_MS, max(times) + ONE_MS),
        )
        .order_by(col(AuditEvent.created_at), col(AuditEvent.id))
    )
    rows = (await session.execute(statement)).all()
    return [Matched(event=row[0], matches=tuple(bool(flag) for flag in row[1:])) for row in rows]
