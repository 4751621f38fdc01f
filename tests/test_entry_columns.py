"""A search page leaves out of its statement the columns its selection does not read
(``api/graphql/audit/entry_columns.py``), and every field still answers as with all columns."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    OperationDefinitionNode,
    parse,
)

from api.audit.query import Filters
from api.audit.search import PageRequest
from api.audit.search_raw import (
    LEFT_OUT_COLUMNS,
    SEARCH_SHAPES,
    ColumnLeftOut,
    SearchShapes,
    kept_search,
    search_events_on,
)
from api.db import Database
from api.graphql.audit.entry_columns import COLUMNS_READ, left_out_by
from api.graphql.schema import build_schema
from bench.read_cases import SPACECTL_LIST
from tests.helpers import Api, Key
from tests.test_audit_support import ago
from tests.test_read_fast_path import reader
from tests.test_search_shapes import COMPILER

__all__ = ["reader"]  # the fixture: a trail with every kind of field

ENTRY_TYPE = "AuditTrailEntry"
NESTED_FRAGMENTS = " fragment Outer on AuditTrailEntry { ...Inner } fragment Inner on AuditTrailEntry { body }"


def selection(graphql_type: GraphQLOutputType) -> str:
    """Every field under ``graphql_type``, nested objects whole."""
    while isinstance(graphql_type, GraphQLNonNull | GraphQLList):
        graphql_type = graphql_type.of_type
    if not isinstance(graphql_type, GraphQLObjectType):
        return ""
    return "{ " + " ".join(f"{name} {selection(field.type)}" for name, field in graphql_type.fields.items()) + " }"


def entry_fields() -> dict[str, str]:
    """Each field of the entry type with its selection: ``actor { username ... }``, ``body``, ..."""
    entry = build_schema()._schema.type_map[ENTRY_TYPE]
    assert isinstance(entry, GraphQLObjectType)
    return {name: f"{name} {selection(field.type)}" for name, field in entry.fields.items()}


def page_of(fields: str) -> str:
    return f"{{ searchAuditTrailEntries(input: {{first: 50}}) {{ edges {{ node {{ id {fields} }} }} }} }}"


def nodes(answer: dict[str, Any]) -> list[dict[str, Any]]:
    return [edge["node"] for edge in answer["searchAuditTrailEntries"]["edges"]]


async def test_each_field_alone_answers_as_with_every_column(api: Api, reader: Key) -> None:
    """A field reading a column it does not declare would fail here (the row raises ``ColumnLeftOut``)."""
    fields = entry_fields()
    assert set(COLUMNS_READ) <= set(fields)  # the declaration names fields that exist
    whole = nodes((await api.gql(page_of(" ".join(fields.values())), token=reader.jwt)).ok())
    assert len(whole) == 8 and any(node["recordedBy"] for node in whole) and any(node["data"] for node in whole)
    for name, field in fields.items():
        alone = nodes((await api.gql(page_of(field), token=reader.jwt)).ok())
        assert alone == [{"id": node["id"], name: node[name]} for node in whole], name


def search_field(document: str) -> tuple[list[FieldNode], dict[str, FragmentDefinitionNode]]:
    parsed = parse(document)
    operation = next(d for d in parsed.definitions if isinstance(d, OperationDefinitionNode))
    fragments = {d.name.value: d for d in parsed.definitions if isinstance(d, FragmentDefinitionNode)}
    field = operation.selection_set.selections[0]
    assert isinstance(field, FieldNode)
    return [field], fragments


@pytest.mark.parametrize(
    ("document", "left_out"),
    [
        (SPACECTL_LIST, {"context", "data"}),  # spacectl reads the body, no JSON column
        (page_of("action createdAt"), LEFT_OUT_COLUMNS),  # the console's list
        (page_of("body data context"), set()),
        (page_of("renamed: recordedBy"), {"body", "data"}),  # an alias reads its field's column
        (page_of("externalId"), {"body", "data"}),
        (page_of("... on AuditTrailEntry { data }"), {"body", "context"}),
        (page_of("...Outer") + NESTED_FRAGMENTS, {"context", "data"}),
        (page_of("data @skip(if: true)"), {"body", "context"}),  # directives never leave a column out
        ("{ searchAuditTrailEntries(input: {first: 1}) { pageInfo { hasNextPage } } }", LEFT_OUT_COLUMNS),
    ],
)
def test_the_columns_left_out_are_those_no_field_selected_reads(document: str, left_out: set[str]) -> None:
    assert left_out_by(*search_field(document)) == left_out


async def test_a_page_leaves_its_columns_out_of_the_statement_and_the_rows(db: Database, reader: Key) -> None:
    shapes = SearchShapes(8)
    narrow = kept_search(
        reader.account_id, Filters(), PageRequest(first=50), now=ago(), shapes=shapes, left_out=frozenset({"body"})
    )
    sql, _ = COMPILER.sql_and_arguments(*narrow, fixed=True)  # as the read path sends it
    assert "NULL AS body" in sql and "audit_events.data" in sql and "audit_events.context" in sql
    whole = kept_search(reader.account_id, Filters(), PageRequest(first=50), now=ago(), shapes=shapes)
    assert "NULL" not in COMPILER.sql_and_arguments(*whole, fixed=True)[0] and len(shapes) == 2
    async with db.reader() as connection:
        page = await search_events_on(
            connection, reader.account_id, Filters(), PageRequest(first=50), left_out=LEFT_OUT_COLUMNS
        )
    row = page.events[0]
    assert row.body_text is None and row.data_text is None and row.context_text is None  # type: ignore[attr-defined]
    for column in ("body", "data", "context"):
        with pytest.raises(ColumnLeftOut, match=column):
            getattr(row, column)
    assert row.action and row.actor


async def test_spacectls_page_runs_without_the_json_columns(api: Api, reader: Key) -> None:
    """The served resolver asks for the narrowed statement, not only the helper its test calls (a page
    size no other test asks for, so its shape is this request's)."""
    answer = await api.gql(SPACECTL_LIST, {"input": {"first": 43}}, token=reader.jwt)
    assert len(answer.ok()["searchAuditTrailEntries"]["edges"]) == 8
    # The process-wide shapes: (plan, order, after, size, left out, span) for pages, besides the sidebar's.
    kept = [key[4:] for key in SEARCH_SHAPES._statements if key[0] != "suggestions" and key[3] == 43]
    assert [left_out for left_out, _ in kept] == [frozenset({"context", "data"})]
    assert [span is not None for _, span in kept] == [True]  # the whole trail: read in partition order
