"""The compiled completion answers every field of the real entry types as graphql-core does.

Documents are generated from the schema's own ``AuditTrailEntryConnection`` type: every field of
the entry, its actor, run and resources, each with an alias, in a fragment, under ``@skip`` or
``@include``, and with ``__typename``; each runs with the compiled context and with strawberry's
plain one on the same entries (JSON of every kind, nulls where the types allow them), twice, so the
second request takes the functions kept from the first.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest
import strawberry
from graphql import GraphQLList, GraphQLNonNull, GraphQLObjectType, GraphQLOutputType
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from api.audit.search import PageRequest, page_of
from api.audit.search_raw import EventRow
from api.graphql.audit.types import AuditTrailEntry, AuditTrailEntryConnection
from api.graphql.compiled_completion import CompiledCompletionContext
from api.graphql.parsed_documents import DocumentCache, ParsedDocuments
from api.graphql.scalars import SCALARS

COMPILED_LISTS: list[int] = []
ANSWERED: list[AuditTrailEntryConnection] = []
"""The connections the resolver returned, newest last."""
START = datetime(2026, 11, 26, 9, 30, 15, 123456, tzinfo=UTC)


class CountingContext(CompiledCompletionContext):
    """Counts the lists and objects a compiled function completed (the proof the fast path ran)."""

    def complete_list_value(self, return_type: Any, field_details_list: Any, *args: Any) -> Any:
        if self._completer(return_type, field_details_list) is not None:
            COMPILED_LISTS.append(1)
        return super().complete_list_value(return_type, field_details_list, *args)

    def complete_object_value(self, return_type: Any, field_details_list: Any, *args: Any) -> Any:
        if self._completer(return_type, field_details_list) is not None:
            COMPILED_LISTS.append(1)
        return super().complete_object_value(return_type, field_details_list, *args)


def event(number: int) -> EventRow:
    """Events that between them give every field a value and, where its type allows, a null."""
    ingested = number % 2 == 0
    context: dict[str, Any] = {"recordedBy": f"api::key{number}", "externalId": f"ext-{number}"} if ingested else {}
    return EventRow(
        id=f"01JDX{number:021d}",
        created_at=START - timedelta(minutes=number),
        action="run.state_changed" if number % 3 == 0 else "stack.update",
        actor="github::alice" if number % 4 else "run::01JDXRUN",
        event_type=("CREATE", "UPDATE", "DELETE")[number % 3],
        run_state_change=number % 3 == 0,
        affected_resource_type="STACK" if number % 5 else None,
        affected_resource_id=f"stack-{number}" if number % 7 else None,
        related_resource_type="SPACE" if number % 2 else None,
        related_resource_id="space-1" if number % 2 else None,
        run_id="01JDXRUN" if number % 3 == 0 else None,
        run_stack_id="stack-1" if number % 3 == 0 else None,
        # As PostgreSQL writes jsonb (a row decodes it when read).
        context_text=json.dumps({**context, "ua": "spacectl ✓ \u2028", "nested": {"list": [1, None, True, 2.5]}}),
        data_text=json.dumps({"args": {"n": number, "big": 2**70, "ratio": 0.1, "text": 'quote " \\'}}),
        remote_ip="10.0.0.1" if number % 2 else None,
        recorded_at=START - timedelta(minutes=number) + timedelta(milliseconds=7) if ingested else None,
        body_text=f'{{"id":"01JDX{number:021d}"}}',
    )


@strawberry.type
class Query:
    @strawberry.field
    def entries(self) -> AuditTrailEntryConnection:
        # A search page as the resolver makes it (edges whose cursors are encoded when read), one row more
        # than asked, so there is a next page.
        connection = AuditTrailEntryConnection.from_page(
            page_of([event(number) for number in range(12)], PageRequest(11))
        )
        ANSWERED.append(connection)
        return connection


def schema(context_class: type[StrawberryGraphQLCoreExecutionContext]) -> strawberry.Schema:
    return strawberry.Schema(
        query=Query,
        execution_context_class=context_class,
        extensions=[partial(ParsedDocuments, DocumentCache(maxsize=64))],
        config=StrawberryConfig(scalar_map=SCALARS),
    )


COMPILED = schema(CountingContext)
PLAIN = schema(StrawberryGraphQLCoreExecutionContext)


def _named(output_type: GraphQLOutputType) -> Any:
    while isinstance(output_type, GraphQLNonNull | GraphQLList):
        output_type = output_type.of_type
    return output_type


def selection(object_type: GraphQLObjectType, style: str, depth: int = 0) -> str:
    """Every field of ``object_type`` and of the objects under it, written in ``style``."""
    parts = ["__typename"]
    for index, (name, field) in enumerate(object_type.fields.items()):
        named = _named(field.type)
        inner = f" {{ {selection(named, style, depth + 1)} }}" if isinstance(named, GraphQLObjectType) else ""
        if style == "aliases":
            parts.append(f"a{depth}_{index}: {name}{inner} {name}{inner}")
        elif style == "directives":
            directive = "@skip(if: $flag)" if index % 2 else "@include(if: $flag)"
            parts.append(f"{name} {directive}{inner}")
        elif style == "inline":
            parts.append(f"... on {object_type.name} {{ {name}{inner} }}")
        else:
            parts.append(f"{name}{inner}")
    return " ".join(parts)


def documents() -> list[tuple[str, str]]:
    entry_type = COMPILED._schema.type_map["AuditTrailEntry"]
    assert isinstance(entry_type, GraphQLObjectType)
    every = selection(entry_type, "plain")
    page_info = "pageInfo { endCursor hasNextPage hasPreviousPage }"
    return [
        ("every field", f"{{ entries {{ edges {{ cursor node {{ {every} }} }} {page_info} }} }}"),
        ("aliases", f"{{ entries {{ edges {{ c: cursor node {{ {selection(entry_type, 'aliases')} }} }} }} }}"),
        (
            "fragments",
            f"fragment E on AuditTrailEntry {{ {every} }}"
            " fragment G on AuditTrailEntryEdge { cursor node { ...E } } { entries { edges { ...G node { id } } } }",
        ),
        ("inline fragments", f"{{ entries {{ edges {{ node {{ {selection(entry_type, 'inline')} }} }} }} }}"),
        (
            "directives",
            f"query($flag: Boolean!) {{ entries {{ edges {{ node {{ {selection(entry_type, 'directives')} }} }} }} }}",
        ),
    ]


@pytest.mark.parametrize(("name", "document"), documents(), ids=[name for name, _ in documents()])
@pytest.mark.parametrize("flag", [True, False])
def test_every_entry_field_is_answered_as_the_plain_executor_answers(name: str, document: str, flag: bool) -> None:
    variables = {"flag": flag} if "$flag" in document else None
    plain = PLAIN.execute_sync(document, variable_values=variables)
    assert plain.errors is None, plain.errors
    for _ in range(2):  # the second request takes the functions the first compiled (or, with directives, its own)
        COMPILED_LISTS.clear()
        compiled = COMPILED.execute_sync(document, variable_values=variables)
        assert compiled.errors is None
        # Byte for byte, key order included (the answer's JSON is written in the dicts' order).
        assert json.dumps(compiled.data) == json.dumps(plain.data)
        assert COMPILED_LISTS, f"{name}: the page was completed field by field, not by a compiled function"
        # Read from the page's rows (``row_reads.py``): its edges and entries were never made.
        assert "edges" not in vars(ANSWERED[-1]), f"{name}: the page's rows were not read directly"


def test_an_entry_decodes_its_rows_json_only_when_a_json_field_is_read() -> None:
    """spacectl's page selects no JSON field: its rows' ``data`` and ``context`` are never decoded."""
    row = replace(event(2), context_text="{not json", data_text="{not json")
    entry = AuditTrailEntry.from_event(row)
    assert (entry.action, entry.created_at) == ("stack.update", int(row.created_at.timestamp()))
    assert (entry.actor.username, entry.body) == ("github::alice", row.body)
    assert row._context is None and row._data is None
    with pytest.raises(ValueError):  # the parser's own error: reading a JSON-derived field decodes
        _ = entry.recorded_by
    with pytest.raises(ValueError):
        _ = entry.data
    read = AuditTrailEntry.from_event(event(2))
    assert (read.recorded_by, read.external_id) == ("api::key2", "ext-2")
    assert read.context == json.loads(event(2).context_text or "")  # decoded once, then kept
    assert read.context is read.context


def test_the_plain_executor_reads_a_pages_edges_made_when_first_read() -> None:
    document = "{ entries { edges { cursor node { id actor { username } } } } }"
    answer = PLAIN.execute_sync(document)
    assert answer.errors is None and answer.data is not None
    assert "edges" in vars(ANSWERED[-1]), "graphql-core's path did not read the edges"
    assert [edge["node"]["id"] for edge in answer.data["entries"]["edges"]] == [event(n).id for n in range(11)]
