"""What a search may ask for (fields, predicates, full text) and the SQL condition it becomes.

Predicates combine with AND; the values inside one constraint combine with OR; ``exclude``
negates a predicate (rows where the field is NULL count as "not matching", so they are kept).
"""

from __future__ import annotations

import calendar
import enum
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, SQLColumnExpression, String, and_, false, literal_column, or_, true
from sqlmodel import col

from api.errors import BadInput
from api.models import AuditEvent, EventType


class FieldKind(enum.StrEnum):
    STRING = "STRING"
    ENUM = "ENUM"
    BOOLEAN = "BOOLEAN"
    TIME = "TIME"


class TimeUnit(enum.StrEnum):
    MINUTES = "MINUTES"
    HOURS = "HOURS"
    DAYS = "DAYS"
    WEEKS = "WEEKS"
    MONTHS = "MONTHS"


SearchColumn = (
    SQLColumnExpression[str]
    | SQLColumnExpression[str | None]
    | SQLColumnExpression[bool]
    | SQLColumnExpression[datetime]
    | SQLColumnExpression[datetime | None]
)


@dataclass(frozen=True)
class SearchField:
    name: str
    column: SearchColumn
    kind: FieldKind
    enum_values: tuple[str, ...] = ()
    fallback: SearchColumn | None = None
    """A TIME field's column for rows where ``column`` is NULL (``recorded_at`` of rows older than it)."""


SEARCH_FIELDS: dict[str, SearchField] = {
    f.name: f
    for f in (
        SearchField("action", col(AuditEvent.action), FieldKind.STRING),
        SearchField("actor", col(AuditEvent.actor), FieldKind.STRING),
        SearchField("actorSource", col(AuditEvent.actor_source), FieldKind.STRING),
        SearchField("eventType", col(AuditEvent.event_type), FieldKind.ENUM, tuple(t.value for t in EventType)),
        SearchField("runStateChange", col(AuditEvent.run_state_change), FieldKind.BOOLEAN),
        SearchField("affectedResourceType", col(AuditEvent.affected_resource_type), FieldKind.STRING),
        SearchField("affectedResourceId", col(AuditEvent.affected_resource_id), FieldKind.STRING),
        SearchField("relatedResourceType", col(AuditEvent.related_resource_type), FieldKind.STRING),
        SearchField("relatedResourceId", col(AuditEvent.related_resource_id), FieldKind.STRING),
        SearchField("remoteIP", col(AuditEvent.remote_ip), FieldKind.STRING),
        SearchField("createdAt", col(AuditEvent.created_at), FieldKind.TIME),
        SearchField("recordedAt", col(AuditEvent.recorded_at), FieldKind.TIME, fallback=col(AuditEvent.created_at)),
    )
}
ORDERABLE_FIELDS = ("createdAt",)
CONSTRAINTS_BY_KIND = {
    FieldKind.STRING: "stringMatches",
    FieldKind.ENUM: "enumEquals",
    FieldKind.BOOLEAN: "booleanEquals",
    FieldKind.TIME: "timeInRange or timeInLast",
}
MAX_VALUES_PER_CONSTRAINT = 100
MAX_VALUE_LENGTH = 512
MAX_PREDICATES = 50
MAX_FULL_TEXT_LENGTH = 256
MAX_FULL_TEXT_WORDS = 10
MAX_TIME_IN_LAST = 100_000

# The same expression as the trigram index ``audit_events_search_text`` (migration 0011):
# PostgreSQL uses the index only when the query repeats it exactly.  A digest's listing of the
# events it covers (``data.events``: random hex) is not search text; its own fields are.
SEARCH_TEXT_SQL = (
    "lower(action || ' ' || actor || ' ' || coalesce(affected_resource_id, '') || ' '"
    " || coalesce(related_resource_id, '') || ' '"
    " || CASE WHEN action = 'audit_trail.digest' THEN (data - 'events')::text ELSE data::text END)"
)
SEARCH_TEXT: ColumnElement[str] = literal_column(SEARCH_TEXT_SQL, String())
"""Typed: a word searched is bound as text (``$n::VARCHAR``), the same whether given as a value or as a parameter."""


@dataclass(frozen=True)
class TimeInRange:
    """Both ends inclusive, either may be open.  A range given in whole seconds ends at the last
    microsecond of its end second, so an event shown at that second is inside it."""

    start: datetime | None = None
    end: datetime | None = None

    @classmethod
    def of_seconds(cls, start: int | None, end: int | None) -> TimeInRange:
        """The range of ``start`` to ``end`` unix seconds (Spacelift's form), each second whole."""
        return cls(
            start=datetime.fromtimestamp(start, UTC) if start is not None else None,
            end=datetime.fromtimestamp(end + 1, UTC) - timedelta(microseconds=1) if end is not None else None,
        )


@dataclass(frozen=True)
class TimeInLast:
    number: int
    unit: TimeUnit


@dataclass(frozen=True)
class Constraint:
    boolean_equals: Sequence[bool] | None = None
    enum_equals: Sequence[str] | None = None
    string_matches: Sequence[str] | None = None
    time_in_range: TimeInRange | None = None
    time_in_last: TimeInLast | None = None

    def given(self) -> list[str]:
        """The GraphQL names of the constraint kinds that are set."""
        names = {
            "booleanEquals": self.boolean_equals,
            "enumEquals": self.enum_equals,
            "stringMatches": self.string_matches,
            "timeInRange": self.time_in_range,
            "timeInLast": self.time_in_last,
        }
        return [name for name, value in names.items() if value is not None]


@dataclass(frozen=True)
class Predicate:
    field: str
    constraint: Constraint
    exclude: bool = False


@dataclass(frozen=True)
class Filters:
    """Everything that narrows a search, without paging or ordering."""

    predicates: Sequence[Predicate] = field(default_factory=tuple)
    full_text_search: str | None = None


def search_field(name: str) -> SearchField:
    """The field called ``name``, or BAD_USER_INPUT listing the fields there are."""
    found = SEARCH_FIELDS.get(name)
    if found is None:
        raise BadInput(f"unknown field {name!r}; filterable fields are: {', '.join(SEARCH_FIELDS)}")
    return found


Plan = tuple[Any, ...]
"""A condition as plain tuples, built and checked without SQLAlchemy (``filter_plan``); ``plan_sql``
makes the SQL of it.  Nodes: ``("and_true" | "and" | "or_false" | "or", children)``, ``("not_true",
child)``, ``("null" | "not_null", column)`` and the leaves that hold a value, ``("in" | "like" | "ge" |
"le", column, value)``; a column is named by ``PLAN_COLUMNS``' keys."""

PLAN_COLUMNS: dict[str, SearchColumn | ColumnElement[str]] = {
    **{name: target.column for name, target in SEARCH_FIELDS.items()},
    **{f"{name}.fallback": target.fallback for name, target in SEARCH_FIELDS.items() if target.fallback is not None},
    "searchText": SEARCH_TEXT,
}
_VALUE_LEAVES = frozenset({"in", "like", "ge", "le"})


def filter_condition(filters: Filters, *, now: datetime, skip_field: str | None = None) -> ColumnElement[bool]:
    """The WHERE condition (account aside) of ``filters``; ``skip_field``'s own predicates are left out.

    Leaving a field's own predicates out is what a filter sidebar needs: the counts of the other
    values of that field under everything else that is selected.
    """
    return plan_sql(filter_plan(filters, now=now, skip_field=skip_field), as_given)


def filter_plan(filters: Filters, *, now: datetime, skip_field: str | None = None) -> Plan:
    """``filter_condition`` as a plan: every check made, no SQLAlchemy object built (a search's hot
    path keeps its statement by the plan's shape, see ``split_plan``)."""
    if len(filters.predicates) > MAX_PREDICATES:
        raise BadInput(f"at most {MAX_PREDICATES} predicates are allowed, got {len(filters.predicates)}")
    conditions = [
        predicate_plan(predicate, now=now) for predicate in filters.predicates if predicate.field != skip_field
    ]
    for predicate in filters.predicates:
        search_field(predicate.field)  # a skipped predicate must still name a real field
    conditions.extend(full_text_plans(filters.full_text_search))
    return ("and_true", tuple(conditions))


def predicate_plan(predicate: Predicate, *, now: datetime) -> Plan:
    """The plan of one predicate, or BAD_USER_INPUT when its constraint does not fit its field."""
    target = search_field(predicate.field)
    given = predicate.constraint.given()
    expected = CONSTRAINTS_BY_KIND[target.kind]
    if len(given) != 1:
        raise BadInput(f"predicate on {target.name!r} must set exactly one constraint ({expected}), got {len(given)}")
    if target.kind is FieldKind.STRING:
        condition = _string_plan(target, _values(target, predicate.constraint.string_matches, given[0]))
    elif target.kind is FieldKind.ENUM:
        condition = _enum_plan(target, _values(target, predicate.constraint.enum_equals, given[0]))
    elif target.kind is FieldKind.BOOLEAN:
        condition = _boolean_plan(target, predicate.constraint.boolean_equals, given[0])
    else:
        condition = _time_plan(target, predicate.constraint, given[0], now=now)
    # IS NOT TRUE keeps rows whose field is NULL when the predicate is excluded.
    return ("not_true", condition) if predicate.exclude else condition


def _values(target: SearchField, values: Sequence[str] | None, given: str) -> Sequence[str]:
    if values is None:
        raise BadInput(f"field {target.name!r} takes {CONSTRAINTS_BY_KIND[target.kind]}, not {given}")
    if not 1 <= len(values) <= MAX_VALUES_PER_CONSTRAINT:
        raise BadInput(
            f"{given} on {target.name!r} must list 1 to {MAX_VALUES_PER_CONSTRAINT} values, got {len(values)}"
        )
    for value in values:
        if len(value) > MAX_VALUE_LENGTH:
            raise BadInput(f"values are limited to {MAX_VALUE_LENGTH} characters, got {len(value)}")
    return values


def escape_like(value: str) -> str:
    """``value`` as a LIKE pattern that matches only itself (escape character ``\\``)."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def like_pattern(pattern: str) -> str:
    """``*`` matches any run of characters; every other character matches itself."""
    return escape_like(pattern).replace("*", "%")


def _string_plan(target: SearchField, patterns: Sequence[str]) -> Plan:
    exact = [p for p in patterns if "*" not in p]
    wildcards = [p for p in patterns if "*" in p]
    conditions: list[Plan] = []
    if exact:
        # Exact values go through the (account_id, field, created_at) indexes.
        conditions.append(("in", target.name, exact))
    conditions.extend(("like", target.name, like_pattern(p)) for p in wildcards)
    return ("or_false", tuple(conditions))


def _enum_plan(target: SearchField, values: Sequence[str]) -> Plan:
    unknown = [v for v in values if v not in target.enum_values]
    if unknown:
        raise BadInput(
            f"{target.name} must be one of {', '.join(target.enum_values)}, got {', '.join(map(repr, unknown))}"
        )
    return ("in", target.name, list(values))


def _boolean_plan(target: SearchField, values: Sequence[bool] | None, given: str) -> Plan:
    if values is None:
        raise BadInput(f"field {target.name!r} takes booleanEquals, not {given}")
    if not 1 <= len(values) <= 2:
        raise BadInput(f"booleanEquals on {target.name!r} must list 1 or 2 values, got {len(values)}")
    return ("in", target.name, list(values))


def _time_plan(target: SearchField, constraint: Constraint, given: str, *, now: datetime) -> Plan:
    if target.fallback is None:
        return _time_bounds(target.name, target.name, constraint, given, now=now)
    # Two branches rather than coalesce(): each one can use its own index, (account_id, recorded_at)
    # for the rows that have it, and the rows that do not are the ones written before it existed.
    fallback = f"{target.name}.fallback"
    return (
        "or",
        (
            ("and", (("not_null", target.name), _time_bounds(target.name, target.name, constraint, given, now=now))),
            ("and", (("null", target.name), _time_bounds(target.name, fallback, constraint, given, now=now))),
        ),
    )


def _time_bounds(name: str, column: str, constraint: Constraint, given: str, *, now: datetime) -> Plan:
    if constraint.time_in_range is not None:
        start, end = constraint.time_in_range.start, constraint.time_in_range.end
        if start is None and end is None:
            raise BadInput(
                "timeInRange needs a start, an end or both (start/end in unix seconds, startAt/endAt ISO 8601)"
            )
        if start is not None and end is not None and start > end:
            raise BadInput(f"timeInRange start ({start.isoformat()}) must not be after its end ({end.isoformat()})")
        conditions: list[Plan] = []
        if start is not None:
            conditions.append(("ge", column, start))
        if end is not None:
            conditions.append(("le", column, end))
        return ("and", tuple(conditions))
    if constraint.time_in_last is not None:
        return ("ge", column, time_before(now, constraint.time_in_last))
    raise BadInput(f"field {name!r} takes timeInRange or timeInLast, not {given}")


Binder = Callable[[object, str, bool], object]
"""How ``plan_sql`` writes a leaf's value: (value, column key, whether it is a list) -> what the SQL compares with."""


def as_given(value: object, column: str, is_list: bool) -> object:
    """The value itself: SQLAlchemy binds it as a parameter typed by the column, as ``column op value`` does."""
    return value


def plan_sql(plan: Plan, bind: Binder) -> ColumnElement[bool]:
    """The SQL condition of ``plan``; each leaf's value as ``bind`` writes it, in ``split_plan``'s order."""
    tag = plan[0]
    if tag in _VALUE_LEAVES:
        column = PLAN_COLUMNS[plan[1]]
        value = bind(plan[2], plan[1], tag == "in")
        if tag == "in":
            return column.in_(value)  # type: ignore[arg-type]  # a list, or an expanding parameter
        if tag == "like":
            return column.like(value, escape="\\")
        return column >= value if tag == "ge" else column <= value
    if tag == "null":
        return PLAN_COLUMNS[plan[1]].is_(None)
    if tag == "not_null":
        return PLAN_COLUMNS[plan[1]].is_not(None)
    if tag == "not_true":
        return plan_sql(plan[1], bind).is_not(True)
    children = [plan_sql(child, bind) for child in plan[1]]
    if tag == "and_true":
        return and_(true(), *children)
    if tag == "and":
        return and_(*children)
    if tag == "or_false":
        return or_(false(), *children)
    return or_(*children)


def split_plan(plan: Plan) -> tuple[Plan, list[object]]:
    """``plan``'s shape (its values left out: what decides its SQL) and its values, in the order
    ``plan_sql`` binds them.  Plans of one shape make the same SQL text with different parameters."""
    values: list[object] = []
    return _shape(plan, values), values


def plan_of_shape(shape: Plan) -> Plan:
    """A shape as a plan again, each value ``None``: for ``plan_sql`` with a binder that writes parameters."""
    tag = shape[0]
    if tag in _VALUE_LEAVES:
        return (*shape, None)
    if tag in ("null", "not_null"):
        return shape
    if tag == "not_true":
        return (tag, plan_of_shape(shape[1]))
    return (tag, tuple(plan_of_shape(child) for child in shape[1]))


def _shape(plan: Plan, values: list[object]) -> Plan:
    tag = plan[0]
    if tag in _VALUE_LEAVES:
        values.append(plan[2])
        return (tag, plan[1])
    if tag in ("null", "not_null"):
        return plan
    if tag == "not_true":
        return (tag, _shape(plan[1], values))
    return (tag, tuple(_shape(child, values) for child in plan[1]))


def time_before(now: datetime, span: TimeInLast) -> datetime:
    """``now`` minus ``span``; months are calendar months (the day is clamped to the month's end)."""
    if not 1 <= span.number <= MAX_TIME_IN_LAST:
        raise BadInput(f"timeInLast number must be between 1 and {MAX_TIME_IN_LAST}, got {span.number}")
    if span.unit is TimeUnit.MONTHS:
        months = now.year * 12 + now.month - 1 - span.number
        year, month = divmod(months, 12)
        if year < 1:
            raise BadInput(f"timeInLast of {span.number} months reaches before year 1")
        day = min(now.day, calendar.monthrange(year, month + 1)[1])
        return now.replace(year=year, month=month + 1, day=day)
    unit_seconds = {TimeUnit.MINUTES: 60, TimeUnit.HOURS: 3600, TimeUnit.DAYS: 86400, TimeUnit.WEEKS: 604800}
    return now - timedelta(seconds=span.number * unit_seconds[span.unit])


_WORDS = re.compile(r"\S+")


def full_text_conditions(text: str | None) -> list[ColumnElement[bool]]:
    """Every word must appear, case-insensitively, in the action, actor, resource ids or data."""
    return [plan_sql(plan, as_given) for plan in full_text_plans(text)]


def full_text_plans(text: str | None) -> list[Plan]:
    """``full_text_conditions`` as plans."""
    if text is None or not text.strip():
        return []
    if len(text) > MAX_FULL_TEXT_LENGTH:
        raise BadInput(f"fullTextSearch is limited to {MAX_FULL_TEXT_LENGTH} characters, got {len(text)}")
    words = _WORDS.findall(text.lower())
    if len(words) > MAX_FULL_TEXT_WORDS:
        raise BadInput(f"fullTextSearch is limited to {MAX_FULL_TEXT_WORDS} words, got {len(words)}")
    return [_contains(word) for word in words]


def _contains(word: str) -> Plan:
    """``word`` somewhere in the searched text.  ``data`` is searched as JSON text, where ``"`` and
    ``\\`` are escaped: a word holding one is looked for as given and as JSON writes it."""
    condition: Plan = ("like", "searchText", f"%{escape_like(word)}%")
    as_json = word.replace("\\", "\\\\").replace('"', '\\"')
    if as_json == word:
        return condition
    return ("or", (condition, ("like", "searchText", f"%{escape_like(as_json)}%")))
