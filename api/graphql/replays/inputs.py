"""The input of ``auditTrailReplay`` and its domain form."""

from __future__ import annotations

from datetime import UTC, datetime

import strawberry

from api.audit.query import Filters
from api.graphql.audit.inputs import QueryPredicate
from api.webhooks import FailedDeliveriesRange, ReplayRequest


def _utc(moment: datetime) -> datetime:
    """A time without an offset is read as UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


@strawberry.input(description="Stored events with from <= createdAt <= to that match every predicate.")
class AuditTrailReplayInput:
    range_from: datetime = strawberry.field(name="from", description="ISO 8601; UTC unless an offset is given.")
    range_to: datetime = strawberry.field(name="to", description="ISO 8601, inclusive.")
    predicates: list[QueryPredicate] | None = strawberry.field(
        default=None, description="As in searchAuditTrailEntries, createdAt aside (the range is from and to)."
    )

    def to_request(self) -> ReplayRequest:
        return ReplayRequest(
            range_from=_utc(self.range_from),
            range_to=_utc(self.range_to),
            filters=Filters(predicates=tuple(p.to_predicate() for p in self.predicates or ())),
        )


@strawberry.input(
    description="The webhook's FAILED deliveries created from <= createdAt <= to; each bound is optional,"
    " so {} means every failed delivery of the delivery log."
)
class AuditTrailRedeliverFailedInput:
    range_from: datetime | None = strawberry.field(
        default=None, name="from", description="ISO 8601; UTC unless an offset is given."
    )
    range_to: datetime | None = strawberry.field(default=None, name="to", description="ISO 8601, inclusive.")

    def to_range(self) -> FailedDeliveriesRange:
        return FailedDeliveriesRange(
            created_from=_utc(self.range_from) if self.range_from else None,
            created_to=_utc(self.range_to) if self.range_to else None,
        )
