"""The search, one entry and the suggestions on a plain asyncpg connection (the GraphQL read path).

The same statements as ``api/audit/search.py`` builds (the search narrowed to the columns an entry
shows), run through ``api/raw_reads.py`` instead of SQLAlchemy's session, and their rows turned into
``EventRow``s instead of ORM instances: no identity map, no attribute instrumentation, no
transaction.  ``tests/test_read_fast_path.py`` checks that both paths give the same answers.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import BindParameter, ColumnElement, CompoundSelect, Select, bindparam, null, select
from sqlalchemy.util import LRUCache

from api.audit.partition_span import DAILY_PARTITIONS
from api.audit.query import (
    PLAN_COLUMNS,
    Binder,
    Filters,
    Plan,
    SearchField,
    filter_plan,
    plan_of_shape,
    plan_sql,
    split_plan,
)
from api.audit.search import (
    EVENT_COLUMNS,
    Page,
    PageRequest,
    Span,
    Suggestions,
    counts_total,
    event_where,
    event_window,
    page_of,
    page_start,
    page_statement,
    suggestion_plans,
    suggestion_targets,
    suggestions_of,
    suggestions_union,
)
from api.models import AuditEvent
from api.raw_reads import COMPILED_STATEMENTS, RawReader, decode_json


class ColumnLeftOut(LookupError):
    """A row's column that its statement left out was read: the selection's columns
    (``api/graphql/audit/entry_columns.py``) miss a field that reads it."""


@dataclass(slots=True)
class EventRow:
    """The columns of an event that its entry shows, in ``ENTRY_COLUMNS``' order; its JSON columns
    as PostgreSQL's text, decoded when first read (``context``, ``data``).

    Not frozen: a frozen dataclass sets each of its 17 fields through ``object.__setattr__``, and
    building the 51 rows of a page that way cost 120 µs against 13 µs (nothing assigns to a row).
    JSON decoded when read: spacectl's page selects neither ``data`` nor ``context``, and decoding
    both for every row was about 4 % of a page's CPU.  ``body``, ``context`` and ``data`` are None
    when the statement left them out (``LEFT_OUT_COLUMNS``); reading one of those raises
    ``ColumnLeftOut``, so a field reading a column it did not ask for fails loudly, never answers null.
    """

    id: str
    created_at: datetime
    action: str
    actor: str
    event_type: str
    run_state_change: bool
    affected_resource_type: str | None
    affected_resource_id: str | None
    related_resource_type: str | None
    related_resource_id: str | None
    run_id: str | None
    run_stack_id: str | None
    context_text: str | None
    data_text: str | None
    remote_ip: str | None
    recorded_at: datetime | None
    body_text: str | None
    _context: dict[str, Any] | None = None
    _data: dict[str, Any] | None = None

    @property
    def context(self) -> dict[str, Any]:
        if self._context is None:
            self._context = decode_json(_selected(self.context_text, "context"))
        return self._context

    @property
    def data(self) -> dict[str, Any]:
        if self._data is None:
            self._data = decode_json(_selected(self.data_text, "data"))
        return self._data

    @property
    def body(self) -> str:
        return _selected(self.body_text, "body")


def _selected(value: str | None, column: str) -> str:
    if value is None:  # the three columns are NOT NULL: None is a column left out
        raise ColumnLeftOut(f"the statement left out {column}")
    return value


ENTRY_COLUMN_NAMES = (
    "id", "created_at", "action", "actor", "event_type", "run_state_change", "affected_resource_type",
    "affected_resource_id", "related_resource_type", "related_resource_id", "run_id", "run_stack_id", "context",
    "data", "remote_ip", "recorded_at", "body",
)  # fmt: skip
"""The columns an entry shows, in ``EventRow``'s order."""
LEFT_OUT_COLUMNS = frozenset({"body", "context", "data"})
"""The columns a search page may leave out when no field selected reads them: the large ones
(``body``, the whole payload) and the ``jsonb`` ones, which PostgreSQL turns into text for every row."""
# The table's own columns (not the ORM attributes): selecting them costs no coercion per request.
ENTRY_COLUMNS = tuple(AuditEvent.__table__.c[name] for name in ENTRY_COLUMN_NAMES)  # type: ignore[attr-defined]  # sqlmodel's table
ENTRY_SELECT = select(*ENTRY_COLUMNS)
"""Built once: ``select()`` coerces each of its 17 columns (17 µs a request); a statement's ``where`` copies it."""


@functools.cache
def entry_select(left_out: frozenset[str]) -> Select[Any]:
    """``ENTRY_SELECT`` with the ``left_out`` columns (of ``LEFT_OUT_COLUMNS``) as NULLs in their places,
    so rows keep ``EventRow``'s shape.  At most eight, each built once."""
    if not left_out:
        return ENTRY_SELECT
    if not left_out <= LEFT_OUT_COLUMNS:
        raise ValueError(f"only {sorted(LEFT_OUT_COLUMNS)} may be left out, not {sorted(left_out - LEFT_OUT_COLUMNS)}")
    return select(*(null().label(column.name) if column.name in left_out else column for column in ENTRY_COLUMNS))


async def search_events_on(
    reader: RawReader,
    account_id: str,
    filters: Filters,
    page: PageRequest,
    *,
    now: datetime | None = None,
    left_out: frozenset[str] = frozenset(),
) -> Page:
    """``search_events`` on ``reader``: the same rows in the same order, by a statement kept by its
    shape; ``left_out`` columns (of ``LEFT_OUT_COLUMNS``) come back as None."""
    searched = bool((filters.full_text_search or "").strip())
    # The whole trail (the first screen): read in partition order (``partition_span``).
    span = await DAILY_PARTITIONS.span(reader.connection) if not (filters.predicates or searched) else None
    statement, parameters = kept_search(
        account_id, filters, page, now=now or datetime.now(UTC), left_out=left_out, span=span
    )
    # Words searched anywhere: only the words themselves tell the planner whether the trigram index pays.
    rows = await reader.fetch(statement, parameters, fixed=True, values_decide_plan=searched)
    return page_of([EventRow(*row) for row in rows], page)


class SearchShapes:
    """Search statements kept by shape, the ``maxsize`` most recently used: the filters' plan with its
    values left out (``split_plan``), the order, whether the page starts after a cursor, its size,
    the columns left out.

    Building a page's statement with SQLAlchemy and working out its cache key cost 150-300 µs a
    request, a sixth of a page's CPU.  A statement of one shape is the same SQL with other
    parameters, so it is built once, with named parameters (``v0``, ``v1``, ... in the plan's
    order, ``account_id``, the cursor's ``after_created_at`` and ``after_id``), and compiled once
    for good (``RawReader.fetch(fixed=True)``).  The filters are still checked on every request:
    ``filter_plan`` does it, as it does for ``filter_condition``.  The sidebar's statement (a
    UNION ALL of a subquery per field, 3.5 ms to build and compile for every field) is kept the
    same way, by the fields asked for and the shapes of its conditions.
    """

    def __init__(self, maxsize: int) -> None:
        self._statements: LRUCache[tuple[object, ...], Any] = LRUCache(maxsize)

    def __len__(self) -> int:
        return len(self._statements)

    def statement(
        self,
        shape: Plan,
        page: PageRequest,
        *,
        has_after: bool,
        left_out: frozenset[str] = frozenset(),
        span: Span | None = None,
    ) -> Select[Any]:
        key = (shape, page.direction, has_after, page.first, left_out, span)
        statement: Select[Any] | None = self._statements.get(key)
        if statement is None:
            built = self._build(shape, page, has_after=has_after, left_out=left_out, span=span)
            statement = self._statements[key] = built
        return statement

    def suggestions(
        self, target_names: tuple[str, ...], shapes: tuple[Plan, ...], total_from: int | None
    ) -> CompoundSelect[int, str | None, int]:
        """The sidebar's statement for these fields, the shapes of ``suggestion_plans`` and ``counts_total``."""
        key = ("suggestions", target_names, shapes, total_from)
        statement = self._statements.get(key)
        if statement is None:
            parameter = _named_parameters()
            conditions = [plan_sql(plan_of_shape(shape), parameter) for shape in shapes]
            targets = suggestion_targets(list(target_names))
            statement = self._statements[key] = suggestions_union(_ACCOUNT, targets, conditions, total_from)
        return statement

    @staticmethod
    def _build(
        shape: Plan, page: PageRequest, *, has_after: bool, left_out: frozenset[str], span: Span | None
    ) -> Select[Any]:
        after = (
            (bindparam("after_created_at", type_=EVENT_COLUMNS.created_at.type),
             bindparam("after_id", type_=EVENT_COLUMNS.id.type))
            if has_after
            else None
        )  # fmt: skip
        condition = plan_sql(plan_of_shape(shape), _named_parameters())
        return page_statement(entry_select(left_out), _ACCOUNT, condition, page, after, span)


_ACCOUNT = bindparam("account_id", type_=EVENT_COLUMNS.account_id.type)


def _parameters(account_id: str, values: Iterable[object]) -> dict[str, object]:
    """A kept statement's parameters: the account, and the plans' values as ``_named_parameters`` named them."""
    parameters: dict[str, object] = {f"v{index}": value for index, value in enumerate(values)}
    parameters["account_id"] = account_id
    return parameters


def _named_parameters() -> Binder:
    """A binder writing each value as the next named parameter, ``v0``, ``v1``, ... (``split_plan``'s order)."""
    count = itertools.count()

    def parameter(_value: object, column: str, is_list: bool) -> BindParameter[Any]:
        # Typed by the column, as SQLAlchemy types the value of ``column op value``.
        column_type = cast("ColumnElement[Any]", PLAN_COLUMNS[column]).type  # a column or an ORM attribute
        return bindparam(f"v{next(count)}", type_=column_type, expanding=is_list)

    return parameter


SEARCH_SHAPES = SearchShapes(COMPILED_STATEMENTS)


def kept_search(
    account_id: str,
    filters: Filters,
    page: PageRequest,
    *,
    now: datetime,
    shapes: SearchShapes = SEARCH_SHAPES,
    left_out: frozenset[str] = frozenset(),
    span: Span | None = None,
) -> tuple[Select[Any], dict[str, object]]:
    """The page's statement kept by its shape in ``shapes`` (and ``span``, see ``page_statement``), and
    the parameters it runs with."""
    after = page_start(page)
    shape, values = split_plan(filter_plan(filters, now=now))
    parameters = _parameters(account_id, values)
    if after is not None:
        parameters["after_created_at"], parameters["after_id"] = after.created_at, after.row_id
    statement = shapes.statement(shape, page, has_after=after is not None, left_out=left_out, span=span)
    return statement, parameters


def kept_suggestions(
    account_id: str,
    filters: Filters,
    field_names: list[str] | None,
    *,
    now: datetime,
    shapes: SearchShapes = SEARCH_SHAPES,
) -> tuple[CompoundSelect[int, str | None, int], dict[str, object], list[SearchField]]:
    """The sidebar's statement kept by its shape in ``shapes``, its parameters, and the fields it counts."""
    targets = suggestion_targets(field_names)
    plans = suggestion_plans(filters, targets, now=now)
    split = [split_plan(plan) for plan in plans]
    names, plan_shapes = tuple(target.name for target in targets), tuple(shape for shape, _ in split)
    statement = shapes.suggestions(names, plan_shapes, counts_total(plans, targets))
    parameters = _parameters(account_id, itertools.chain.from_iterable(plan_values for _, plan_values in split))
    return statement, parameters, targets


async def get_event_on(reader: RawReader, account_id: str, event_id: str) -> EventRow | None:
    """``get_event`` on ``reader``, by a statement built and compiled once."""
    rows = await reader.fetch(ENTRY_BY_ID, entry_parameters(account_id, event_id), fixed=True)
    return EventRow(*rows[0]) if rows else None


def entry_parameters(account_id: str, event_id: str) -> dict[str, object]:
    """What ``ENTRY_BY_ID`` runs with, or BAD_USER_INPUT for an id that is not one of ours."""
    earliest, latest = event_window(event_id)
    return {"account_id": account_id, "event_id": event_id, "earliest": earliest, "latest": latest}


ENTRY_BY_ID = event_where(
    ENTRY_SELECT,
    _ACCOUNT,
    bindparam("event_id", type_=EVENT_COLUMNS.id.type),
    bindparam("earliest", type_=EVENT_COLUMNS.created_at.type),
    bindparam("latest", type_=EVENT_COLUMNS.created_at.type),
)
"""One entry's statement: the same SQL as ``event_statement``'s, its values as parameters."""


async def suggest_values_on(
    reader: RawReader,
    account_id: str,
    filters: Filters,
    field_names: list[str] | None = None,
    *,
    now: datetime | None = None,
) -> Suggestions:
    """``suggest_values`` on ``reader``: one statement, one round trip, kept by its shape as the search's is."""
    statement, parameters, targets = kept_suggestions(account_id, filters, field_names, now=now or datetime.now(UTC))
    # Counts over a span of the trail: the span decides between index and sequential scans.
    return suggestions_of(await reader.fetch(statement, parameters, fixed=True, values_decide_plan=True), targets)
