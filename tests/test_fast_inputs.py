"""Our input builders (api/graphql/fast_inputs.py) build exactly what Strawberry's own conversion builds."""

from __future__ import annotations

from typing import Any

import pytest
import strawberry
from graphql import coerce_input_value
from strawberry.types.arguments import convert_argument
from strawberry.types.base import StrawberryObjectDefinition

from api.graphql.fast_inputs import InputBuilder, install_fast_inputs
from api.graphql.schema import build_schema

SCHEMA = build_schema()
INPUT_DEFINITIONS = {
    name: concrete.definition
    for name, concrete in SCHEMA.schema_converter.type_map.items()
    if isinstance(concrete.definition, StrawberryObjectDefinition) and concrete.definition.is_input
}

# Client-side values (JSON as sent), from the smallest to every field set, nested and listed.
SAMPLES: list[tuple[str, dict[str, Any]]] = [
    ("AuditTrailEventInput", {"action": "stack.create", "actor": "github::alice", "eventType": "CREATE"}),
    (
        "AuditTrailEventInput",
        {
            "action": "run.finished",
            "actor": "spacelift::scheduler",
            "eventType": "UPDATE",
            "runStateChange": True,
            "affectedResource": {"resourceType": "stack", "resourceId": "s-1"},
            "relatedResource": {"resourceType": "space"},
            "run": {"id": "r-1", "stackId": "s-1"},
            "context": {"requestId": "q", "nested": [1, {"a": None}]},
            "data": {"args": {"Name": "x"}},
            "remoteIP": "10.0.0.1",
            "timestamp": 1_700_000_000_000,
        },
    ),
    (
        "AuditTrailEventInput",
        {"action": "a.b", "actor": "x::y", "eventType": "DELETE", "runStateChange": None, "data": None, "run": None},
    ),
    ("SearchInput", {}),
    (
        "SearchInput",
        {
            "first": 10,
            "after": "cursor",
            "fullTextSearch": "alice",
            "orderBy": {"field": "createdAt", "direction": "ASC"},
            "predicates": [
                {"field": "action", "constraint": {"stringMatches": ["stack.*", "run.create"]}},
                {"field": "eventType", "exclude": True, "constraint": {"enumEquals": ["CREATE"]}},
                {"field": "createdAt", "constraint": {"timeInRange": {"start": 1, "end": 2}}},
                {"field": "createdAt", "constraint": {"timeInLast": {"number": 3, "unit": "DAYS"}}},
            ],
        },
    ),
    ("SearchSuggestionsInput", {"field": "action", "predicates": [], "fullTextSearch": None}),
    ("AuditTrailWebhookInput", {"enabled": True, "endpoint": "https://example.com/hook"}),
    (
        "AuditTrailWebhookInput",
        {
            "enabled": False,
            "endpoint": "https://example.com/hook",
            "includeRuns": True,
            "secret": "s",
            "retryOnFailure": False,
            "customHeaders": {"entries": [{"key": "X-A", "value": "1"}, {"key": "X-B", "value": "2"}]},
        },
    ),
    ("AuditTrailWebhookInput", {"enabled": True, "endpoint": "https://e.com", "customHeaders": {"entries": []}}),
    ("ApiKeyCreateInput", {"name": "ci", "role": "READER"}),
]


def test_every_input_type_of_the_schema_has_its_builder() -> None:
    assert INPUT_DEFINITIONS, "the schema has input types"
    assert {name: type(d.from_input).__name__ for name, d in INPUT_DEFINITIONS.items()} == {
        name: InputBuilder.__name__ for name in INPUT_DEFINITIONS
    }


def test_every_sample_covers_a_known_input_type() -> None:
    assert {name for name, _ in SAMPLES} <= set(INPUT_DEFINITIONS)


@pytest.mark.parametrize(("type_name", "sent"), SAMPLES, ids=[f"{name}-{i}" for i, (name, _) in enumerate(SAMPLES)])
def test_builder_builds_what_strawberry_builds(type_name: str, sent: dict[str, Any]) -> None:
    graphql_type = SCHEMA._schema.get_type(type_name)
    assert graphql_type is not None
    coerced = coerce_input_value(sent, graphql_type)  # type: ignore[arg-type]
    definition = INPUT_DEFINITIONS[type_name]
    cls = definition.origin
    registry, config = SCHEMA.schema_converter.scalar_registry, SCHEMA.config

    ours = convert_argument(coerced, cls, registry, config)
    builders = {name: d.from_input for name, d in INPUT_DEFINITIONS.items()}
    try:
        for d in INPUT_DEFINITIONS.values():
            d.from_input = None
        strawberrys = convert_argument(coerced, cls, registry, config)
    finally:
        for name, d in INPUT_DEFINITIONS.items():
            d.from_input = builders[name]

    assert type(ours) is cls
    assert ours == strawberrys
    assert repr(ours) == repr(strawberrys)  # UNSET and None told apart, nested types by name


@strawberry.input
class Probe:
    note: str | None
    tags: list[str] | None = None
    inner: list[Probe | None] | None = strawberry.UNSET


@strawberry.type
class ProbeQuery:
    @strawberry.field
    def echo(self, probe: Probe) -> str:
        return repr(probe)


def test_nullable_fields_without_default_are_none_when_omitted_as_in_strawberry() -> None:
    plain = strawberry.Schema(query=ProbeQuery)
    document = '{ echo(probe: {tags: ["a"], inner: [null, {note: "n"}]}) }'
    before = plain.execute_sync(document)
    install_fast_inputs(concrete.definition for concrete in plain.schema_converter.type_map.values())
    assert isinstance(Probe.__strawberry_definition__.from_input, InputBuilder)  # type: ignore[attr-defined]  # set by @strawberry.input
    after = strawberry.Schema(query=ProbeQuery).execute_sync(document)
    assert before.errors is None and after.errors is None
    assert (
        after.data
        == before.data
        == {"echo": "Probe(note=None, tags=['a'], inner=[None, Probe(note='n', tags=None, inner=UNSET)])"}
    )
