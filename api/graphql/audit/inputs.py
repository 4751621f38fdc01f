"""GraphQL inputs of the audit trail (search, suggestions, ingestion) and their domain forms."""

from __future__ import annotations

from datetime import datetime

import strawberry

from api.audit.ingest import IncomingEvent
from api.audit.query import Constraint, Filters, Predicate, TimeInLast, TimeInRange, TimeUnit
from api.audit.record import Resource, RunRef
from api.audit.search import PageRequest
from api.errors import BadInput
from api.graphql.audit.types import AuditTrailEventType
from api.graphql.scalars import JSON
from api.models import EventType
from api.paging import Direction, check_page_size
from api.settings import Settings

SearchQueryOrderDirection = strawberry.enum(Direction, name="SearchQueryOrderDirection")
QueryTimeUnit = strawberry.enum(TimeUnit, name="QueryTimeUnit")


@strawberry.input(
    description="Both ends inclusive, either may be left open. Each end in unix seconds (start, end) or as an"
    " ISO 8601 date-time with its offset (startAt, endAt: past 2038, below the second); one form per end."
)
class QueryTimeInRange:
    start: int | None = None
    end: int | None = None
    start_at: datetime | None = None
    end_at: datetime | None = None

    def to_range(self) -> TimeInRange:
        """The domain range; BAD_USER_INPUT when an end is given twice or a date-time has no offset."""
        in_seconds = TimeInRange.of_seconds(self.start, self.end)
        return TimeInRange(
            start=_one_end("start", in_seconds.start, self.start_at),
            end=_one_end("end", in_seconds.end, self.end_at),
        )


def _one_end(name: str, from_seconds: datetime | None, given_at: datetime | None) -> datetime | None:
    if given_at is None:
        return from_seconds
    if from_seconds is not None:
        raise BadInput(f"timeInRange takes {name} (unix seconds) or {name}At (ISO 8601), not both")
    if given_at.utcoffset() is None:
        raise BadInput(
            f"timeInRange {name}At needs its offset (2026-11-26T08:00:00Z or +01:00), got {given_at.isoformat()}"
        )
    return given_at


@strawberry.input
class QueryTimeInLast:
    number: int
    unit: QueryTimeUnit  # type: ignore[valid-type]  # strawberry enum wrapper


@strawberry.input(description="Exactly one constraint; the values of a list match if any one matches.")
class QueryFieldConstraint:
    boolean_equals: list[bool] | None = None
    enum_equals: list[str] | None = None
    string_matches: list[str] | None = strawberry.field(
        default=None, description="Exact values, or patterns where `*` matches any run of characters."
    )
    time_in_range: QueryTimeInRange | None = None
    time_in_last: QueryTimeInLast | None = None

    def to_constraint(self) -> Constraint:
        time_in_range = self.time_in_range
        time_in_last = self.time_in_last
        return Constraint(
            boolean_equals=self.boolean_equals,
            enum_equals=self.enum_equals,
            string_matches=self.string_matches,
            time_in_range=time_in_range.to_range() if time_in_range else None,
            time_in_last=TimeInLast(time_in_last.number, TimeUnit(time_in_last.unit)) if time_in_last else None,
        )


@strawberry.input
class QueryPredicate:
    field: str
    constraint: QueryFieldConstraint
    exclude: bool | None = strawberry.field(default=False, description="Match the entries the constraint does not.")

    def to_predicate(self) -> Predicate:
        return Predicate(field=self.field, constraint=self.constraint.to_constraint(), exclude=bool(self.exclude))


@strawberry.input
class QueryOrder:
    field: str = strawberry.field(description="Only createdAt is orderable.")
    direction: SearchQueryOrderDirection = Direction.DESC  # type: ignore[valid-type]  # strawberry enum wrapper


def filters_of(predicates: list[QueryPredicate] | None, full_text_search: str | None) -> Filters:
    """The domain filters of the search's (and the live tail's) predicates and words."""
    return Filters(
        predicates=tuple(p.to_predicate() for p in predicates or ()),
        full_text_search=full_text_search,
    )


@strawberry.input
class SearchInput:
    first: int | None = strawberry.field(default=None, description="Page size: 50 unless given, at most 500.")
    after: str | None = strawberry.field(default=None, description="A cursor of the previous page.")
    full_text_search: str | None = strawberry.field(
        default=None, description="Words that must all appear in the action, actor, resource ids or data."
    )
    predicates: list[QueryPredicate] | None = None
    order_by: QueryOrder | None = strawberry.field(default=None, description="createdAt DESC unless given.")

    def filters(self) -> Filters:
        return filters_of(self.predicates, self.full_text_search)

    def page_request(self, settings: Settings) -> PageRequest:
        order = self.order_by
        return PageRequest(
            first=check_page_size(self.first, default=settings.default_page_size, maximum=settings.max_page_size),
            after=self.after,
            order_field=order.field if order else "createdAt",
            direction=Direction(order.direction) if order else Direction.DESC,
        )


@strawberry.input
class SearchSuggestionsInput:
    fields: list[str] | None = strawberry.field(
        default=None, description="The fields to suggest values for; every filterable field unless given."
    )
    field: str | None = strawberry.field(default=None, description="One field; shorthand for `fields: [field]`.")
    predicates: list[QueryPredicate] | None = None
    full_text_search: str | None = None

    def filters(self) -> Filters:
        return filters_of(self.predicates, self.full_text_search)

    def field_names(self) -> list[str]:
        return [*(self.fields or []), *([self.field] if self.field else [])]


@strawberry.input
class AuditTrailResourceInput:
    resource_type: str
    resource_id: str | None = None

    def to_resource(self) -> Resource:
        return Resource(self.resource_type, self.resource_id)


@strawberry.input
class AuditTrailRunInput:
    id: str
    stack_id: str


@strawberry.input
class AuditTrailEventInput:
    action: str = strawberry.field(description="`<resource>.<verb>`, e.g. `stack.create`.")
    actor: str = strawberry.field(description="`source::identity`, e.g. `github::alice`.")
    event_type: AuditTrailEventType = strawberry.field(  # type: ignore[valid-type]  # strawberry enum wrapper
        description="CREATE, UPDATE or DELETE, as Spacelift shows them."
    )
    affected_resource: AuditTrailResourceInput | None = None
    related_resource: AuditTrailResourceInput | None = None
    run_state_change: bool | None = strawberry.field(
        default=False, description="A run state change (sent to the webhook only when it includes runs)."
    )
    run: AuditTrailRunInput | None = strawberry.field(
        default=None, description="The run; required for run state changes, and only for them."
    )
    context: JSON | None = None
    data: JSON | None = None
    remote_ip: str | None = strawberry.field(default=None, name="remoteIP")
    timestamp: float | None = strawberry.field(default=None, description="Milliseconds since the epoch; now if unset.")
    external_id: str | None = strawberry.field(
        default=None,
        description="Your id of the event (1-128 letters, digits or `._:@/+=-`), unique in the account: an event"
        " whose externalId is already stored is not recorded again, and the stored entry is returned.",
    )

    def to_incoming(self) -> IncomingEvent:
        return IncomingEvent(
            action=self.action,
            actor=self.actor,
            event_type=EventType(self.event_type),
            run_state_change=bool(self.run_state_change),
            affected_resource=self.affected_resource.to_resource() if self.affected_resource else None,
            related_resource=self.related_resource.to_resource() if self.related_resource else None,
            run=RunRef(run_id=self.run.id, stack_id=self.run.stack_id) if self.run else None,
            context=self.context,
            data=self.data,
            remote_ip=self.remote_ip,
            timestamp_ms=self.timestamp,
            external_id=self.external_id,
        )
