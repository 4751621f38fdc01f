"""The compiled completion answers exactly as graphql-core does, and is really taken."""

from __future__ import annotations

import enum
import json
from functools import partial
from typing import Any

import pytest
import strawberry
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types import ExecutionResult

from api.graphql.compiled_completion import SHAREABLE_OPERATIONS, SHARED_COMPLETERS, CompiledCompletionContext
from api.graphql.parsed_documents import DocumentCache, ParsedDocuments
from api.graphql.scalars import JSON, SCALARS

COMPILED_LISTS: list[int] = []
COMPILED_OBJECTS: list[str] = []


class CountingContext(CompiledCompletionContext):
    """Counts the lists and objects completed by a compiled function (the proof the fast path ran)."""

    def complete_list_value(self, return_type: Any, field_details_list: Any, *args: Any) -> Any:
        if self._completer(return_type, field_details_list) is not None:
            COMPILED_LISTS.append(1)
        return super().complete_list_value(return_type, field_details_list, *args)

    def complete_object_value(self, return_type: Any, field_details_list: Any, *args: Any) -> Any:
        if self._completer(return_type, field_details_list) is not None:
            COMPILED_OBJECTS.append(return_type.name)
        return super().complete_object_value(return_type, field_details_list, *args)


@strawberry.enum
class Kind(enum.Enum):
    CREATE = "CREATE"
    DELETE = "DELETE"


@strawberry.type
class Resource:
    resource_type: str
    resource_id: str | None


@strawberry.type
class Node:
    id: strawberry.ID
    kind: Kind
    count: int
    score: float
    tags: list[str]
    data: JSON
    resource: Resource | None
    required_name: str

    @strawberry.field
    def shout(self) -> str:
        return self.required_name.upper()


@strawberry.type
class Edge:
    cursor: str
    node: Node


@strawberry.type
class Listing:
    """An object around a list, as a connection is around its edges."""

    edges: list[Edge]
    total: int
    first: Edge | None
    label: str

    @strawberry.field
    def shout(self) -> str:
        return self.label.upper()


@strawberry.type
class Tree:
    """A type nesting itself: a selection as deep as a document makes it."""

    name: str
    children: list[Tree]
    grid: list[list[Resource | None] | None]


def tree(depth: int, width: int) -> Tree:
    """A tree ``depth`` levels deep, ``width`` children a level, with a grid of lists of resources, nulls between."""
    grid: list[list[Resource | None] | None] = [[Resource(resource_type="STACK", resource_id=str(depth)), None], None]
    children = [tree(depth - 1, width) for _ in range(width)] if depth > 1 else []
    return Tree(name=f"level-{depth}", children=children, grid=grid)


@strawberry.type
class Query:
    @strawberry.field
    def tree(self, depth: int = 3, width: int = 2) -> Tree:
        return tree(depth, width)

    @strawberry.field
    def listing(self, broken: bool = False) -> Listing:
        edges = [Edge(cursor=f"c{i}", node=node) for i, node in enumerate(nodes())]
        # A resolver breaking its own type: a null in a non-null field of the object itself.
        return Listing(edges=edges, total=len(edges), first=None, label=None if broken else "all")  # type: ignore[arg-type]

    @strawberry.field
    def edges(self, broken: bool = False, huge: bool = False) -> list[Edge]:
        listed = nodes()
        if huge:  # Int is 32 bits: beyond is graphql-core's error; a bool is answered as 0 or 1
            listed[1].count, listed[2].count = 2**31, True
        if broken:
            listed[3].required_name = None  # type: ignore[assignment]  # a resolver breaking its own type
        return [Edge(cursor=f"c{i}", node=node) for i, node in enumerate(listed)]


def nodes() -> list[Node]:
    """Five nodes that between them give every field a value and, where the type allows, a null."""
    return [
        Node(
            id=strawberry.ID(f"n{i}"),
            kind=Kind.CREATE if i % 2 else Kind.DELETE,
            count=i,
            score=i / 3,
            tags=[f"t{i}", "x"],
            data=JSON({"a": [i, None, {"b": "c"}]}),
            resource=Resource(resource_type="STACK", resource_id=None) if i % 3 else None,
            required_name=f"name-{i}",
        )
        for i in range(5)
    ]


CONFIG = StrawberryConfig(scalar_map=SCALARS)


def run(context_class: type[StrawberryGraphQLCoreExecutionContext], document: str, **variables: Any) -> ExecutionResult:
    schema = strawberry.Schema(query=Query, execution_context_class=context_class, config=CONFIG)
    return schema.execute_sync(document, variable_values=variables)


DOCUMENTS = [
    "{ edges { cursor node { id kind count score tags data requiredName } } }",
    "{ edges { c: cursor cursor node { __typename i: id resource { resourceType resourceId } } } }",
    "fragment N on Node { id kind resource { ...R } } fragment R on Resource { resourceType }"
    " { edges { node { ...N ... on Node { count } } } }",
    "query($skip: Boolean!) { edges { cursor @skip(if: $skip) node { id @include(if: $skip) count } } }",
]


@pytest.mark.parametrize("document", DOCUMENTS)
def test_the_compiled_completion_answers_as_graphql_core(document: str) -> None:
    variables = {"skip": True} if "$skip" in document else {}
    COMPILED_LISTS.clear()
    compiled = run(CountingContext, document, **variables)
    plain = run(StrawberryGraphQLCoreExecutionContext, document, **variables)
    assert compiled.errors is None and plain.errors is None
    assert compiled.data == plain.data
    assert COMPILED_LISTS, "the edges list was completed field by field, not by the compiled function"


def test_a_field_with_a_resolver_keeps_the_list_on_graphql_cores_path() -> None:
    COMPILED_LISTS.clear()
    result = run(CountingContext, "{ edges { node { id shout } } }")
    assert result.errors is None and result.data is not None
    assert result.data["edges"][0]["node"]["shout"] == "NAME-0"
    assert not COMPILED_LISTS


def test_a_null_where_the_type_forbids_it_is_reported_at_its_path_as_graphql_core_does() -> None:
    document = "{ edges(broken: true) { cursor node { id requiredName } } }"
    compiled = run(CompiledCompletionContext, document)
    plain = run(StrawberryGraphQLCoreExecutionContext, document)
    assert compiled.data == plain.data
    assert compiled.errors is not None and plain.errors is not None
    assert [(e.message, e.path) for e in compiled.errors] == [(e.message, e.path) for e in plain.errors]
    assert compiled.errors[0].path == ["edges", 3, "node", "requiredName"]


def test_an_int_beyond_32_bits_is_reported_at_its_path_as_graphql_core_does() -> None:
    document = "{ edges(huge: true) { node { id count } } }"
    compiled = run(CompiledCompletionContext, document)
    plain = run(StrawberryGraphQLCoreExecutionContext, document)
    assert compiled.data == plain.data
    assert compiled.errors is not None and plain.errors is not None
    assert [(e.message, e.path) for e in compiled.errors] == [(e.message, e.path) for e in plain.errors]
    assert compiled.errors[0].path == ["edges", 1, "node", "count"]


def test_a_repeated_document_is_completed_by_the_functions_compiled_for_its_first_request() -> None:
    schema = strawberry.Schema(
        query=Query,
        execution_context_class=CountingContext,
        config=CONFIG,
        extensions=[partial(ParsedDocuments, DocumentCache(maxsize=8))],
    )
    document = "{ edges { cursor node { __typename id kind resource { resourceType resourceId } } } }"
    plain = run(StrawberryGraphQLCoreExecutionContext, document)
    first = schema.execute_sync(document)
    kept, walked = len(SHARED_COMPLETERS), len(SHAREABLE_OPERATIONS)
    COMPILED_LISTS.clear()
    second = schema.execute_sync(document)
    assert first.errors is None and second.errors is None
    assert first.data == second.data == plain.data
    assert COMPILED_LISTS, "the second request did not take the compiled path"
    assert len(SHARED_COMPLETERS) == kept, "the second request compiled its own functions again"
    assert len(SHAREABLE_OPERATIONS) == walked, "the second request walked the operation for directives again"


DIRECTIVE_DOCUMENTS = [
    "query($skip: Boolean!) { edges { cursor @skip(if: $skip) node { id @include(if: $skip) count } } }",
    "query($skip: Boolean!) { edges { ...E } } fragment E on Edge { cursor @skip(if: $skip) node { id } }",
    "query($skip: Boolean!) { edges { node { id } ... on Edge @skip(if: $skip) { cursor } } }",
]


@pytest.mark.parametrize("document", DIRECTIVE_DOCUMENTS)
@pytest.mark.parametrize("skip", [True, False, True])
def test_a_document_with_directives_is_completed_by_its_own_requests_variables(document: str, skip: bool) -> None:
    compiled = SHARED_SCHEMA.execute_sync(document, variable_values={"skip": skip})
    plain = run(StrawberryGraphQLCoreExecutionContext, document, skip=skip)
    assert compiled.errors is None
    assert compiled.data == plain.data
    assert ("cursor" in compiled.data["edges"][0]) is not skip  # type: ignore[index]  # data checked above


# One schema and one document cache for the directive test's three requests: the same parsed document each time.
SHARED_SCHEMA = strawberry.Schema(
    query=Query,
    execution_context_class=CompiledCompletionContext,
    config=CONFIG,
    extensions=[partial(ParsedDocuments, DocumentCache(maxsize=8))],
)


OBJECT_DOCUMENTS = [
    "{ listing { total label first { cursor } edges { cursor node { id kind resource { resourceType } } } } }",
    "{ listing { __typename t: total edges { node { ... on Node { count } } } } }",
]


@pytest.mark.parametrize("document", OBJECT_DOCUMENTS)
def test_an_object_of_basic_fields_is_completed_whole_by_one_compiled_function(document: str) -> None:
    COMPILED_OBJECTS.clear()
    COMPILED_LISTS.clear()
    compiled = run(CountingContext, document)
    plain = run(StrawberryGraphQLCoreExecutionContext, document)
    assert compiled.errors is None and plain.errors is None
    assert json.dumps(compiled.data) == json.dumps(plain.data)  # key order included
    assert COMPILED_OBJECTS == ["Listing"], "the object was completed field by field"
    assert not COMPILED_LISTS, "its list was completed apart from it"


def test_an_object_with_a_resolver_field_keeps_graphql_cores_path_and_its_lists_are_still_compiled() -> None:
    COMPILED_OBJECTS.clear()
    COMPILED_LISTS.clear()
    document = "{ listing { shout edges { node { id } } } }"
    compiled = run(CountingContext, document)
    assert compiled.errors is None
    assert compiled.data == run(StrawberryGraphQLCoreExecutionContext, document).data
    assert compiled.data is not None and compiled.data["listing"]["shout"] == "ALL"
    assert "Listing" not in COMPILED_OBJECTS
    assert COMPILED_LISTS, "the edges under it were completed field by field"


def test_a_null_in_an_objects_own_non_null_field_is_reported_at_its_path_as_graphql_core_does() -> None:
    document = "{ listing(broken: true) { total label edges { cursor } } }"
    compiled = run(CompiledCompletionContext, document)
    plain = run(StrawberryGraphQLCoreExecutionContext, document)
    assert compiled.data == plain.data
    assert compiled.errors is not None and plain.errors is not None
    assert [(e.message, e.path) for e in compiled.errors] == [(e.message, e.path) for e in plain.errors]
    assert compiled.errors[0].path == ["listing", "label"]


def test_lists_of_lists_of_objects_with_nulls_are_completed_as_graphql_core_does() -> None:
    COMPILED_OBJECTS.clear()
    document = (
        "{ tree { name grid { resourceType resourceId } children { name grid { resourceId } children { name } } } }"
    )
    compiled = run(CountingContext, document)
    plain = run(StrawberryGraphQLCoreExecutionContext, document)
    assert compiled.errors is None and plain.errors is None
    assert json.dumps(compiled.data) == json.dumps(plain.data)  # key order included
    assert COMPILED_OBJECTS == ["Tree"], "the tree was completed field by field"


def test_a_selection_nested_past_what_python_compiles_is_answered_as_graphql_core_does() -> None:
    """Each level of the tree is a loop in the generated function, and Python compiles at most 20 nested
    blocks: the deepest selections keep graphql-core's path, and their lower levels are still compiled."""
    depth = 24
    selection = "name"
    for _ in range(depth - 1):
        selection = f"name children {{ {selection} }}"
    document = f"{{ tree(depth: {depth}, width: 1) {{ {selection} }} }}"
    objects: list[tuple[list[str | int], bool]] = []

    class Recording(CountingContext):
        def complete_object_value(
            self, return_type: Any, field_details_list: Any, info: Any, path: Any, *args: Any
        ) -> Any:
            objects.append((path.as_list(), self._completer(return_type, field_details_list) is not None))
            return super().complete_object_value(return_type, field_details_list, info, path, *args)

    compiled = run(Recording, document)
    plain = run(StrawberryGraphQLCoreExecutionContext, document)
    assert compiled.errors is None and plain.errors is None
    assert compiled.data == plain.data
    assert objects[0] == (["tree"], False), "a function nesting 23 loops was compiled"
    assert any(compiled for _, compiled in objects[1:]), "no level below was compiled"
