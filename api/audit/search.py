"""Reading audit events: a filtered keyset-paged search, one entry by id, and field suggestions.

Every query names the caller's account first, so each one is served by an index that starts
with ``account_id`` and one account can never see another's rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import (
    BigInteger,
    ColumnClause,
    ColumnElement,
    CompoundSelect,
    DateTime,
    Select,
    Text,
    cast,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
    tuple_,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col
from ulid import ULID

from api.audit.query import (
    ORDERABLE_FIELDS,
    SEARCH_FIELDS,
    FieldKind,
    Filters,
    Plan,
    SearchColumn,
    SearchField,
    as_given,
    filter_condition,
    filter_plan,
    plan_sql,
    search_field,
)
from api.errors import BadInput
from api.models import AuditEvent
from api.paging import Cursor, Direction, decode_cursor, encode_cursor, planned_limit

MAX_SUGGESTED_VALUES = 50
Span = tuple[datetime, datetime]
"""[start, end): a stretch of time the daily partitions cover without a gap (``partition_span``)."""
ONE_MS = timedelta(milliseconds=1)


@dataclass(frozen=True)
class PageRequest:
    first: int
    after: str | None = None
    order_field: str = "createdAt"
    direction: Direction = Direction.DESC


class StoredEvent(Protocol):
    """What an entry is made from: an ORM row (``AuditEvent``) or the fast path's ``EventRow``."""

    @property
    def id(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def action(self) -> str: ...
    @property
    def actor(self) -> str: ...
    @property
    def event_type(self) -> str: ...
    @property
    def run_state_change(self) -> bool: ...
    @property
    def affected_resource_type(self) -> str | None: ...
    @property
    def affected_resource_id(self) -> str | None: ...
    @property
    def related_resource_type(self) -> str | None: ...
    @property
    def related_resource_id(self) -> str | None: ...
    @property
    def run_id(self) -> str | None: ...
    @property
    def run_stack_id(self) -> str | None: ...
    @property
    def context(self) -> dict[str, Any]: ...
    @property
    def data(self) -> dict[str, Any]: ...
    @property
    def remote_ip(self) -> str | None: ...
    @property
    def recorded_at(self) -> datetime | None: ...
    @property
    def body(self) -> str: ...


@dataclass(frozen=True)
class Page:
    """One page of events; their cursors are encoded when asked for (spacectl selects none)."""

    events: Sequence[StoredEvent]
    direction: Direction
    has_next_page: bool
    has_previous_page: bool

    def cursor(self, event: StoredEvent) -> str:
        """The cursor of ``event``, one of this page's: a next page ``after`` it starts past it."""
        return encode_cursor(Cursor(event.created_at, event.id, self.direction))

    @property
    def cursors(self) -> list[str]:
        return [self.cursor(event) for event in self.events]

    @property
    def end_cursor(self) -> str | None:
        return self.cursor(self.events[-1]) if self.events else None


@dataclass(frozen=True)
class FieldValues:
    """The most frequent values of one field (at most ``MAX_SUGGESTED_VALUES``), most frequent first."""

    name: str
    kind: FieldKind
    values: list[str]
    counts: list[int]


@dataclass(frozen=True)
class Suggestions:
    filtered_count: int
    fields: list[FieldValues]


EVENT_COLUMNS = AuditEvent.__table__.c  # type: ignore[attr-defined]  # sqlmodel's table
"""The table's own columns: the same SQL as the ORM attributes, without their per-request coercion."""


def search_statement(
    account_id: str,
    filters: Filters,
    page: PageRequest,
    *,
    now: datetime,
    selected: Select[Any] | None = None,
) -> Select[AuditEvent]:
    """The query of one page (one row more than asked, to know whether there is a next page); of the
    events, or of what ``selected`` selects (a ``select()`` of columns built once: ``select()``
    coerces every column it is given, and narrowing afterwards coerces them again)."""
    after = page_start(page)
    return page_statement(
        selected if selected is not None else select(AuditEvent),
        account_id,
        filter_condition(filters, now=now),
        page,
        None if after is None else (after.created_at, after.row_id),
    )


def page_start(page: PageRequest) -> Cursor | None:
    """Where ``page`` starts (its ``after`` cursor), or BAD_USER_INPUT for an order or a cursor that is not ours."""
    if page.order_field not in ORDERABLE_FIELDS:
        raise BadInput(f"orderBy field must be one of {', '.join(ORDERABLE_FIELDS)}, got {page.order_field!r}")
    return decode_cursor(page.after, page.direction) if page.after is not None else None


def page_statement(
    base: Select[Any],
    account_id: object,
    condition: ColumnElement[bool],
    page: PageRequest,
    after: tuple[object, object] | None,
    span: Span | None = None,
) -> Select[Any]:
    """A page's statement around ``condition``: the account's rows past ``after`` (a (created_at, id)
    position), in the page's order, one more than the page.  The account and the position are the
    values themselves, or parameters a statement kept by its shape is run with (``search_raw``).

    With ``span`` (``partition_span``), the page is read in two parts, each ordered and limited, and
    merged: the rows inside the span, whose partitions PostgreSQL reads one after the other in order
    until the page is full, and the rows outside it (the default partition's, usually none).
    Together they are every row, whatever the span.
    """
    statement = base.where(EVENT_COLUMNS.account_id == account_id, condition)
    if after is not None:
        position = tuple_(EVENT_COLUMNS.created_at, EVENT_COLUMNS.id)
        boundary = tuple_(*after)
        statement = statement.where(position < boundary if page.direction is Direction.DESC else position > boundary)
    order, limit = _ORDERS[page.direction], planned_limit(page.first + 1)
    if span is None:
        return statement.order_by(*order).limit(limit)
    starts, ends = (_timestamp_constant(moment) for moment in span)
    created_at = EVENT_COLUMNS.created_at
    inside = statement.where(created_at >= starts, created_at < ends).order_by(*order).limit(limit)
    outside = statement.where(or_(created_at < starts, created_at >= ends)).order_by(*order).limit(limit)
    parts = union_all(inside, outside).subquery("page_parts")
    merged = (parts.c.created_at, parts.c.id)
    merged_order = [column.desc() if page.direction is Direction.DESC else column.asc() for column in merged]
    return select(*parts.c).order_by(*merged_order).limit(limit)


def _timestamp_constant(moment: datetime) -> ColumnElement[datetime]:
    """``moment`` written into the statement: PostgreSQL prunes partitions while planning only by
    constants, and the read path's statements are planned once for any parameters."""
    if moment.tzinfo is None:
        raise ValueError(f"a partition bound needs its time zone: {moment!r}")
    return literal_column(f"'{moment.isoformat()}'::timestamptz", DateTime(timezone=True))


_ORDERS = {
    Direction.DESC: (EVENT_COLUMNS.created_at.desc(), EVENT_COLUMNS.id.desc()),
    Direction.ASC: (EVENT_COLUMNS.created_at.asc(), EVENT_COLUMNS.id.asc()),
}
"""A page's order by direction, built once (SQLAlchemy's clauses are immutable: each statement shares them)."""


async def search_events(
    session: AsyncSession, account_id: str, filters: Filters, page: PageRequest, *, now: datetime | None = None
) -> Page:
    """One page of the account's events matching ``filters``, ordered by (created_at, id)."""
    statement = search_statement(account_id, filters, page, now=now or datetime.now(UTC))
    return page_of(list((await session.execute(statement)).scalars()), page)


def page_of(rows: Sequence[StoredEvent], page: PageRequest) -> Page:
    """The page of ``rows`` (the statement's, one more than asked when there is a next page)."""
    return Page(
        events=rows[: page.first],
        direction=page.direction,
        has_next_page=len(rows) > page.first,
        # Forward-only paging (as in Relay): there is a previous page exactly when we started after one.
        has_previous_page=page.after is not None,
    )


def created_at_of(event_id: str) -> datetime | None:
    """The creation time an event id carries (ids are ULIDs of the event's timestamp)."""
    try:
        return ULID.from_str(event_id).datetime
    except ValueError:
        return None


async def get_event(session: AsyncSession, account_id: str, event_id: str) -> AuditEvent | None:
    """The account's event ``event_id``; the id's own time picks the one partition to look in."""
    return (await session.execute(event_statement(account_id, event_id))).scalar_one_or_none()


def event_statement(account_id: str, event_id: str, *, selected: Select[Any] | None = None) -> Select[AuditEvent]:
    """The query of one event (or of what ``selected`` selects, as in ``search_statement``), or
    BAD_USER_INPUT for an id that is not one of ours."""
    earliest, latest = event_window(event_id)
    return event_where(selected if selected is not None else select(AuditEvent), account_id, event_id, earliest, latest)


def event_window(event_id: str) -> tuple[datetime, datetime]:
    """When the event ``event_id`` was created, give or take a millisecond (its id is a ULID of its
    timestamp: the window names one partition), or BAD_USER_INPUT for an id that is not one of ours."""
    created_at = created_at_of(event_id)
    if created_at is None:
        raise BadInput(f"id must be a 26-character audit event id, got {event_id[:40]!r}")
    # A millisecond either side: the id's time and created_at are both derived from a float timestamp.
    return created_at - ONE_MS, created_at + ONE_MS


def event_where(
    base: Select[Any], account_id: object, event_id: object, earliest: object, latest: object
) -> Select[Any]:
    """The account's event ``event_id`` created between ``earliest`` and ``latest``: the values, or
    parameters a statement built once is run with (``search_raw.get_event_on``)."""
    return base.where(
        EVENT_COLUMNS.account_id == account_id,
        EVENT_COLUMNS.id == event_id,
        EVENT_COLUMNS.created_at.between(earliest, latest),
    )


async def count_events(session: AsyncSession, account_id: str, filters: Filters, *, now: datetime) -> int:
    """How many of the account's events match ``filters``."""
    in_account = col(AuditEvent.account_id) == account_id
    statement = select(func.count()).select_from(AuditEvent).where(in_account, filter_condition(filters, now=now))
    return int((await session.execute(statement)).scalar_one())


async def suggest_values(
    session: AsyncSession,
    account_id: str,
    filters: Filters,
    field_names: list[str] | None = None,
    *,
    now: datetime | None = None,
) -> Suggestions:
    """How many events match ``filters``, and per field its values with counts under the other filters.

    ``field_names`` defaults to every filterable field; time fields have no values to suggest.
    """
    statement, targets = suggestions_statement(account_id, filters, field_names, now=now or datetime.now(UTC))
    return suggestions_of((await session.execute(statement)).all(), targets)


def suggestions_statement(
    account_id: str, filters: Filters, field_names: list[str] | None, *, now: datetime
) -> tuple[CompoundSelect[int, str | None, int], list[SearchField]]:
    """The one statement of the sidebar, and the fields its ``position`` column counts from.

    One statement answers it all (the sidebar used to cost 1 + N sequential round trips): a
    UNION ALL of the total and of each field's most frequent values, tagged with the field's position.
    """
    targets = suggestion_targets(field_names)
    plans = suggestion_plans(filters, targets, now=now)
    conditions = [plan_sql(plan, as_given) for plan in plans]
    return suggestions_union(account_id, targets, conditions, counts_total(plans, targets)), targets


def suggestion_targets(field_names: list[str] | None) -> list[SearchField]:
    """The fields asked for, each once, in the order asked (every field when none is named)."""
    names = field_names if field_names else list(SEARCH_FIELDS)
    return [search_field(name) for name in dict.fromkeys(names)]


def suggestion_plans(filters: Filters, targets: list[SearchField], *, now: datetime) -> list[Plan]:
    """The plans of the sidebar's conditions: the total's, then each counted field's (its own
    predicates left out: the sidebar shows the alternatives to what is selected); time fields count none."""
    counted = [target for target in targets if target.kind is not FieldKind.TIME]
    return [filter_plan(filters, now=now), *(filter_plan(filters, now=now, skip_field=t.name) for t in counted)]


def counts_total(plans: list[Plan], targets: list[SearchField]) -> int | None:
    """The position of the first counted field whose condition is the total's (no predicate of its own),
    or None: that field's counts, NULL included, add up to the total, so one scan gives both.

    Counting the total apart was a second scan of the same rows: the sidebar of one field over seven
    days (93,000 of 1,000,000 events) took 48 ms of statement time, and 34 ms now.
    """
    total, *per_field = plans
    counted = (index for index, target in enumerate(targets) if target.kind is not FieldKind.TIME)
    return next((index for index, plan in zip(counted, per_field, strict=True) if plan == total), None)


def suggestions_union(
    account_id: object,
    targets: list[SearchField],
    conditions: list[ColumnElement[bool]],
    total_from: int | None = None,
) -> CompoundSelect[int, str | None, int]:
    """The sidebar's statement around ``conditions`` (``suggestion_plans``' order); the account is the
    value, or a parameter a statement kept by its shape is run with (``search_raw``).

    ``total_from`` (``counts_total``): the field whose groups, counted once, also give the total.
    """
    in_account = col(AuditEvent.account_id) == account_id
    position: ColumnClause[int] = literal_column("position")
    value: ColumnClause[str] = literal_column("value")
    count: ColumnClause[int] = literal_column("count")
    total, *per_field = conditions
    parts: list[Select[int, str | None, int]] = []  # in any order: the union is ordered by position
    if total_from is None:
        parts.append(
            select(literal(-1).label("position"), null().label("value"), func.count().label("count"))
            .select_from(AuditEvent)
            .where(in_account, total)
        )
    counted = iter(per_field)
    for index, target in enumerate(targets):
        if target.kind is FieldKind.TIME:
            continue
        column = target.column
        condition = next(counted)
        if index == total_from:
            parts.extend(_total_and_values(index, column, in_account, total))
            continue
        field_count = func.count()
        parts.append(
            select(literal(index).label("position"), cast(column, Text).label("value"), field_count.label("count"))
            .where(in_account, condition, column.is_not(None))
            .group_by(column)
            .order_by(field_count.desc(), column)
            .limit(MAX_SUGGESTED_VALUES)
            .subquery()
            .select()
        )
    return union_all(*parts).order_by(position, count.desc(), value)


def _total_and_values(
    index: int, column: SearchColumn, in_account: ColumnElement[bool], total: ColumnElement[bool]
) -> list[Select[int, str | None, int]]:
    """The total and one field's most frequent values from one grouping of the total's rows.

    The groups are a CTE read twice, which PostgreSQL computes once.  Its NULL group counts toward
    the total and is no value to suggest.  Its values are ordered as text: every field is text but
    ``runStateChange``, whose ``false`` < ``true`` is the same order either way.
    """
    groups = (
        select(cast(column, Text).label("value"), func.count().label("count"))
        .where(in_account, total)
        .group_by(column)
        .cte(f"field_{index}_groups")
    )
    counted_total = cast(func.coalesce(func.sum(groups.c.count), 0), BigInteger)
    return [
        select(literal(-1).label("position"), null().label("value"), counted_total.label("count")),
        select(literal(index).label("position"), groups.c.value, groups.c.count)
        .where(groups.c.value.is_not(None))
        .order_by(groups.c.count.desc(), groups.c.value)
        .limit(MAX_SUGGESTED_VALUES)
        .subquery()
        .select(),
    ]


def suggestions_of(rows: Iterable[Sequence[Any]], targets: list[SearchField]) -> Suggestions:
    """The sidebar from the rows of ``suggestions_statement`` (position, value, count)."""
    filtered_count = 0
    values: dict[int, list[tuple[str, int]]] = {}
    for row_position, row_value, row_count in rows:
        if row_position < 0:
            filtered_count = int(row_count)
        else:
            # booleans come back as PostgreSQL's text of them, "true"/"false", as GraphQL writes them
            values.setdefault(row_position, []).append((str(row_value), int(row_count)))
    fields = [
        FieldValues(
            target.name,
            target.kind,
            [text for text, _ in values.get(index, [])],
            [number for _, number in values.get(index, [])],
        )
        for index, target in enumerate(targets)
    ]
    return Suggestions(filtered_count=filtered_count, fields=fields)
