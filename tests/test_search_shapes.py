"""A search statement kept by its shape is the statement SQLAlchemy builds for the values, parameter for parameter
(and so is the one entry's statement, built once).

``search_events_on`` runs a statement built once per shape of the filters (``SearchShapes``) with
the request's values as named parameters.  These tests hold it to ``search_statement``, the one
built with the values (the SQLAlchemy path, the export): the same SQL text and the same arguments,
for filters of every kind, both orders, with and without a cursor; and they check that a statement
is reused only for its own shape, that the filters are still checked when it is, and that the
shapes kept are bounded.  ``tests/test_read_fast_path.py`` compares the rows both paths return.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.dialects.postgresql.asyncpg import dialect

from api.audit.query import (
    Constraint,
    Filters,
    Predicate,
    TimeInLast,
    TimeInRange,
    TimeUnit,
    filter_plan,
    split_plan,
)
from api.audit.search import (
    PageRequest,
    event_statement,
    search_statement,
    suggestions_statement,
)
from api.audit.search_raw import (
    ENTRY_BY_ID,
    ENTRY_SELECT,
    SearchShapes,
    entry_parameters,
    kept_search,
    kept_suggestions,
)
from api.errors import BadInput
from api.paging import Cursor, Direction, encode_cursor
from api.raw_reads import StatementCompiler

NOW = datetime(2026, 11, 27, 3, 0, 0, 123456, tzinfo=UTC)


def predicate(field: str, exclude: bool = False, **constraint: object) -> Predicate:
    return Predicate(field, Constraint(**constraint), exclude)  # type: ignore[arg-type]  # the constraint's own fields


FILTERS = [
    Filters(),
    Filters(predicates=[predicate("action", string_matches=["stack.update"])]),
    Filters(predicates=[predicate("action", string_matches=["stack.*", "policy.attach", "*_*", "100%"])]),
    Filters(predicates=[predicate("actor", True, string_matches=["github::alice", "api::*"])]),
    Filters(predicates=[predicate("eventType", enum_equals=["DELETE", "UPDATE"])]),
    Filters(predicates=[predicate("runStateChange", True, boolean_equals=[True, False])]),
    Filters(predicates=[predicate("createdAt", time_in_last=TimeInLast(7, TimeUnit.DAYS))]),
    Filters(predicates=[predicate("createdAt", time_in_last=TimeInLast(2, TimeUnit.MONTHS))]),
    Filters(predicates=[predicate("createdAt", time_in_range=TimeInRange(end=NOW))]),
    Filters(predicates=[predicate("recordedAt", time_in_range=TimeInRange(start=NOW - timedelta(days=3)))]),
    Filters(predicates=[predicate("recordedAt", True, time_in_range=TimeInRange(start=NOW, end=NOW))]),
    Filters(full_text_search="review"),
    Filters(full_text_search='Quote "it" back\\slash  two'),
    Filters(
        predicates=[
            predicate("affectedResourceType", string_matches=["STACK"]),
            predicate("relatedResourceId", True, string_matches=["space-*"]),
            predicate("remoteIP", string_matches=["10.0.0.*", "::1"]),
            predicate("actorSource", string_matches=["api"]),
        ],
        full_text_search="deploy",
    ),
]
PAGES = [
    PageRequest(50),
    PageRequest(10, after=encode_cursor(Cursor(NOW, "01JDX0000000000000000000AB", Direction.DESC))),
    PageRequest(
        3, direction=Direction.ASC, after=encode_cursor(Cursor(NOW, "01JDX000000000000000000ABC", Direction.ASC))
    ),
]
COMPILER = StatementCompiler(dialect())  # type: ignore[no-untyped-call]  # SQLAlchemy's dialect class


def kept_sql(shapes: SearchShapes, account_id: str, filters: Filters, page: PageRequest) -> tuple[str, list[object]]:
    """What ``search_events_on`` sends: the kept statement of the shape, with the request's parameters."""
    statement, parameters = kept_search(account_id, filters, page, now=NOW, shapes=shapes)
    sql, arguments = COMPILER.sql_and_arguments(statement, parameters, fixed=True)
    return sql, list(arguments)


def built_sql(account_id: str, filters: Filters, page: PageRequest) -> tuple[str, list[object]]:
    sql, arguments = COMPILER.sql_and_arguments(
        search_statement(account_id, filters, page, now=NOW, selected=ENTRY_SELECT)
    )
    return sql, list(arguments)


@pytest.mark.parametrize("page", PAGES, ids=["first page", "after a cursor", "ascending"])
@pytest.mark.parametrize("filters", FILTERS, ids=range(len(FILTERS)))
def test_a_kept_statement_is_the_built_one_with_the_same_arguments(filters: Filters, page: PageRequest) -> None:
    shapes = SearchShapes(maxsize=8)
    assert kept_sql(shapes, "acme", filters, page) == built_sql("acme", filters, page)
    # A second request of the shape (the statement kept) with another account: still the built one.
    assert kept_sql(shapes, "globex", filters, page) == built_sql("globex", filters, page)


def test_a_statement_is_reused_for_its_shape_only() -> None:
    shapes = SearchShapes(maxsize=8)

    def statement_of(filters: Filters, page: PageRequest = PAGES[0]) -> object:
        return shapes.statement(split_plan(filter_plan(filters, now=NOW))[0], page, has_after=False)

    one = statement_of(Filters(predicates=[predicate("action", string_matches=["a", "b"])]))
    # Other values, other list lengths: the same shape (IN lists are expanded per execution).
    assert statement_of(Filters(predicates=[predicate("action", string_matches=["c"])])) is one
    # A wildcard, another field, exclusion, another page size: each a shape of its own.
    others = [
        statement_of(Filters(predicates=[predicate("action", string_matches=["c*"])])),
        statement_of(Filters(predicates=[predicate("actor", string_matches=["a"])])),
        statement_of(Filters(predicates=[predicate("action", True, string_matches=["a"])])),
        statement_of(Filters(predicates=[predicate("action", string_matches=["a"])]), PageRequest(10)),
    ]
    assert len({id(statement) for statement in [one, *others]}) == 5
    # Words: one that JSON writes differently (a quote) is looked for twice, so it is another shape.
    assert statement_of(Filters(full_text_search="plain")) is statement_of(Filters(full_text_search="other"))
    assert statement_of(Filters(full_text_search="plain")) is not statement_of(Filters(full_text_search='"quoted'))


def test_the_filters_are_still_checked_when_their_shape_is_kept() -> None:
    shapes = SearchShapes(maxsize=8)
    kept_sql(shapes, "acme", Filters(predicates=[predicate("action", string_matches=["a"])]), PAGES[0])
    too_many = Filters(predicates=[predicate("action", string_matches=[f"v{n}" for n in range(101)])])
    with pytest.raises(BadInput, match="1 to 100 values"):
        kept_sql(shapes, "acme", too_many, PAGES[0])
    with pytest.raises(BadInput, match="limited to 512 characters"):
        kept_sql(shapes, "acme", Filters(predicates=[predicate("action", string_matches=["x" * 513])]), PAGES[0])
    with pytest.raises(BadInput, match="must be one of"):
        kept_sql(shapes, "acme", Filters(predicates=[predicate("eventType", enum_equals=["EXPLODE"])]), PAGES[0])
    with pytest.raises(BadInput, match="after must be"):
        kept_sql(shapes, "acme", Filters(), PageRequest(50, after="not-a-cursor"))


def test_the_shapes_kept_are_bounded() -> None:
    shapes = SearchShapes(maxsize=3)
    for size in range(1, 40):
        kept_sql(shapes, "acme", Filters(), PageRequest(size))
    assert len(shapes) <= 3


def test_the_entry_statement_built_once_is_the_built_one_with_the_same_arguments() -> None:
    event_id = "01JDX0000000000000000000AB"
    kept = COMPILER.sql_and_arguments(ENTRY_BY_ID, entry_parameters("acme", event_id), fixed=True)
    built = COMPILER.sql_and_arguments(event_statement("acme", event_id, selected=ENTRY_SELECT))
    assert (kept[0], list(kept[1])) == (built[0], list(built[1]))
    with pytest.raises(BadInput, match="26-character audit event id"):
        entry_parameters("acme", "not-an-id")


@pytest.mark.parametrize(
    "field_names", [None, ["action", "createdAt", "eventType"], ["actor", "actor", "runStateChange"]], ids=str
)
@pytest.mark.parametrize("filters", FILTERS, ids=range(len(FILTERS)))
def test_the_kept_sidebar_statement_is_the_built_one_with_the_same_arguments(
    filters: Filters, field_names: list[str] | None
) -> None:
    shapes = SearchShapes(maxsize=8)
    for account_id in ("acme", "globex"):  # built, then kept
        statement, parameters, targets = kept_suggestions(account_id, filters, field_names, now=NOW, shapes=shapes)
        kept = COMPILER.sql_and_arguments(statement, parameters, fixed=True)
        built_statement, built_targets = suggestions_statement(account_id, filters, field_names, now=NOW)
        built = COMPILER.sql_and_arguments(built_statement)
        assert (kept[0], list(kept[1])) == (built[0], list(built[1]))
        assert built_targets == targets
