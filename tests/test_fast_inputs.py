"""Our input builders (api/graphql/fast_inputs.py) build exactly what Strawberry's own conversion builds.

The input types compared are found in the built schema, from the fast path's roots: an input type
added to that tree (or a field added to one) is compared without a change here.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Literal

import pytest
import strawberry
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
    Undefined,
    coerce_input_value,
    get_named_type,
)
from strawberry.types.arguments import InputContext, convert_argument
from strawberry.types.base import StrawberryObjectDefinition

from api.graphql.fast_inputs import HOT_INPUTS, InputBuilder, install_fast_inputs
from api.graphql.schema import build_schema

SCHEMA = build_schema()
INPUT_DEFINITIONS = {
    name: concrete.definition
    for name, concrete in SCHEMA.schema_converter.type_map.items()
    if isinstance(concrete.definition, StrawberryObjectDefinition) and concrete.definition.is_input
}


def input_types_reachable_from_the_fast_path() -> list[str]:
    """Names of the schema's input types that the roots' fields lead to (the roots included)."""
    found: list[str] = []
    pending = [root.__strawberry_definition__.name for root in HOT_INPUTS]  # type: ignore[attr-defined]
    while pending:
        name = pending.pop()
        graphql_type = SCHEMA._schema.get_type(name)
        if name in found or not isinstance(graphql_type, GraphQLInputObjectType):
            continue
        found.append(name)
        pending.extend(get_named_type(field.type).name for field in graphql_type.fields.values())
    return sorted(found)


FAST_PATH = input_types_reachable_from_the_fast_path()

Shape = Literal["required fields only", "every field", "every nullable field null"]
SHAPES: list[Shape] = ["required fields only", "every field", "every nullable field null"]

# Client-side values (JSON as sent) of each scalar; a new scalar on the fast path needs one here.
SCALAR_SAMPLES: dict[str, Any] = {
    "String": "stack.create",
    "ID": "01HID",
    "Int": 7,
    "Float": 1_700_000_000_000.5,
    "Boolean": True,
    "JSON": {"requestId": "q", "nested": [1, {"a": None}], "text": "x"},
    "DateTime": "2026-11-26T07:00:00.123456+01:00",
}


def sample(graphql_type: GraphQLInputType, shape: Shape, depth: int = 0) -> Any:
    """A value of ``graphql_type`` as a client sends it; lists hold two items (and a null when allowed)."""
    if isinstance(graphql_type, GraphQLNonNull):
        return sample(graphql_type.of_type, shape, depth)
    if isinstance(graphql_type, GraphQLList):
        items = [sample(graphql_type.of_type, shape, depth), sample(graphql_type.of_type, "every field", depth)]
        return items if isinstance(graphql_type.of_type, GraphQLNonNull) else [*items, None]
    if isinstance(graphql_type, GraphQLEnumType):
        return list(graphql_type.values)[-1]  # the last: not the default of any field so far
    if isinstance(graphql_type, GraphQLScalarType):
        assert graphql_type.name in SCALAR_SAMPLES, f"add a client-side value of scalar {graphql_type.name}"
        return SCALAR_SAMPLES[graphql_type.name]
    assert isinstance(graphql_type, GraphQLInputObjectType)
    value: dict[str, Any] = {}
    for name, field in graphql_type.fields.items():
        required = isinstance(field.type, GraphQLNonNull) and field.default_value is Undefined
        if required or (shape == "every field" and depth < 3):
            value[name] = sample(field.type, shape, depth + 1)
        elif shape == "every nullable field null" and not isinstance(field.type, GraphQLNonNull):
            value[name] = None
    return value


@contextmanager
def strawberrys_own_conversion() -> Iterator[None]:
    """Every input type converted by Strawberry alone, as without fast_inputs."""
    builders = {name: definition.from_input for name, definition in INPUT_DEFINITIONS.items()}
    try:
        for definition in INPUT_DEFINITIONS.values():
            definition.from_input = None
        yield
    finally:
        for name, definition in INPUT_DEFINITIONS.items():
            definition.from_input = builders[name]


def test_the_fast_path_is_the_ingestion_and_search_input_trees() -> None:
    assert FAST_PATH == [
        "AuditTrailEventInput",
        "AuditTrailResourceInput",
        "AuditTrailRunInput",
        "QueryFieldConstraint",
        "QueryOrder",
        "QueryPredicate",
        "QueryTimeInLast",
        "QueryTimeInRange",
        "SearchInput",
        "SearchSuggestionsInput",
    ]


def test_input_types_on_the_fast_path_have_a_builder_and_the_others_keep_strawberrys_conversion() -> None:
    builders = {name: type(definition.from_input).__name__ for name, definition in INPUT_DEFINITIONS.items()}
    assert builders == {
        name: (InputBuilder.__name__ if name in FAST_PATH else type(None).__name__) for name in INPUT_DEFINITIONS
    }


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("type_name", FAST_PATH)
def test_builder_builds_what_strawberry_builds(type_name: str, shape: Shape) -> None:
    graphql_type = SCHEMA._schema.get_type(type_name)
    assert isinstance(graphql_type, GraphQLInputObjectType)
    coerced = coerce_input_value(sample(graphql_type, shape), graphql_type)
    cls = INPUT_DEFINITIONS[type_name].origin
    registry, config = SCHEMA.schema_converter.scalar_registry, SCHEMA.config

    ours = convert_argument(coerced, cls, registry, config)
    with strawberrys_own_conversion():
        strawberrys = convert_argument(coerced, cls, registry, config)

    assert type(ours) is cls
    assert ours == strawberrys
    assert repr(ours) == repr(strawberrys)  # UNSET and None told apart, nested types by name


@strawberry.input
class Probe:
    note: str | None
    tags: list[str] | None = None
    inner: list[Probe | None] | None = strawberry.UNSET
    maybe: strawberry.Maybe[str | None]


@strawberry.type
class ProbeQuery:
    @strawberry.field
    def echo(self, probe: Probe) -> str:
        return repr(probe)


def test_nullable_fields_without_default_are_none_when_omitted_as_in_strawberry() -> None:
    plain = strawberry.Schema(query=ProbeQuery)
    document = '{ echo(probe: {tags: ["a"], inner: [null, {note: "n", maybe: null}]}) }'
    before = plain.execute_sync(document)
    install_fast_inputs([Probe])
    assert isinstance(Probe.__strawberry_definition__.from_input, InputBuilder)  # type: ignore[attr-defined]
    after = strawberry.Schema(query=ProbeQuery).execute_sync(document)
    assert before.errors is None and after.errors is None
    assert (
        after.data
        == before.data
        == {
            "echo": "Probe(note=None, tags=['a'], inner=[None, Probe(note='n', tags=None, inner=UNSET, "
            "maybe=Some(None))], maybe=None)"
        }
    )


paths_seen: list[tuple[str | int, ...]] = []


def record_path(cls: type, value: Mapping[str, Any], context: InputContext) -> Any:
    """A ``from_input`` hook of another kind: it notes where it was called."""
    paths_seen.append(context.path)
    return cls(**value)


@strawberry.input
class Leaf:
    name: str


@strawberry.input
class Branch:
    leaf: Leaf
    leaves: list[Leaf | None]


@strawberry.input
class Tree:
    branch: Branch
    branches: list[Branch] | None = None


@strawberry.type
class TreeQuery:
    @strawberry.field
    def grow(self, tree: Tree) -> str:
        return repr(tree)


def test_nested_values_are_converted_at_their_path_as_strawberry_does() -> None:
    Leaf.__strawberry_definition__.from_input = record_path  # type: ignore[attr-defined]
    document = """{ grow(tree: {
        branch: {leaf: {name: "a"}, leaves: [null, {name: "b"}]},
        branches: [{leaf: {name: "c"}, leaves: []}, {leaf: {name: "d"}, leaves: [{name: "e"}]}]
    }) }"""
    before = strawberry.Schema(query=TreeQuery).execute_sync(document)
    strawberrys_paths = paths_seen.copy()
    paths_seen.clear()
    install_fast_inputs([Tree])
    assert isinstance(Branch.__strawberry_definition__.from_input, InputBuilder)  # type: ignore[attr-defined]
    assert Leaf.__strawberry_definition__.from_input is record_path  # type: ignore[attr-defined]

    after = strawberry.Schema(query=TreeQuery).execute_sync(document)

    assert before.errors is None and after.errors is None
    assert after.data == before.data
    assert strawberrys_paths == [
        ("tree", "branch", "leaf"),
        ("tree", "branch", "leaves", 1),
        ("tree", "branches", 0, "leaf"),
        ("tree", "branches", 1, "leaf"),
        ("tree", "branches", 1, "leaves", 0),
    ]
    assert paths_seen == strawberrys_paths
