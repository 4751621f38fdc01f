"""Compiled variable coercion (api/graphql/fast_variables.py) gives graphql-core's values and errors.

Each case builds the execution twice, with the schema's execution context and with its parent
(graphql-core's own coercion), and compares the coerced variables, their sources and the errors.
"""

from __future__ import annotations

from typing import Any

import pytest
from graphql import GraphQLError, parse, parse_type, print_ast
from graphql.execution import Executor

from api.graphql.compiled_completion import CompiledCompletionContext
from api.graphql.fast_variables import FastVariablesContext, coerce_hot_variables, type_text
from api.graphql.schema import build_schema

BUILT = build_schema()
SCHEMA = BUILT._schema
RECORD = "mutation($events: [AuditTrailEventInput!]!) { auditTrailRecordEvents(events: $events) { id } }"
RECORD_NULLABLE = "mutation($events: [AuditTrailEventInput]) { auditTrailRecordEvents(events: $events) { id } }"
RECORD_AND_RETAIN = (
    "mutation($events: [AuditTrailEventInput!]!, $days: Int!) {"
    " auditTrailRecordEvents(events: $events) { id } auditTrailSetRetention(days: $days) { id } }"
)


def event(**overrides: Any) -> dict[str, Any]:
    return {"action": "stack.create", "actor": "github::alice", "eventType": "CREATE", **overrides}


EVERY_FIELD = event(
    affectedResource={"resourceType": "STACK", "resourceId": "s-1"},
    relatedResource={"resourceType": "SPACE"},
    runStateChange=True,
    run={"id": "r-1", "stackId": "s-1"},
    context={"source": "ci", "nested": [1, {"a": None}]},
    data='{"as": "text"}',
    remoteIP="203.0.113.7",
    timestamp=1_700_000_000_000,
    externalId="e-1",
)
EVERY_NULLABLE_NULL = event(
    affectedResource=None,
    relatedResource=None,
    runStateChange=None,
    run=None,
    context=None,
    data=None,
    remoteIP=None,
    timestamp=None,
    externalId=None,
)


def deeply_nested(depth: int, leaf: Any) -> Any:
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


VALID: dict[str, Any] = {
    "required fields only": [event()],
    "every field": [EVERY_FIELD, event(timestamp=1.5)],
    "every nullable field null": [EVERY_NULLABLE_NULL],
    "one event, not a list": event(),
    "a batch of 1,000": [event(data={"n": n}) for n in range(1000)],
    "an empty batch": [],
    "JSON nested far deeper than any input type": [event(data={"deep": deeply_nested(5_000, 1)})],
}
HOSTILE: dict[str, Any] = {
    "null": None,
    "a string": "events",
    "a number": 5,
    "a null event": [event(), None],
    "a list for an event": [[event()]],
    "lists nested past the depth limit": deeply_nested(1_000, event()),
    "an event missing its eventType": [{"action": "stack.create", "actor": "github::alice"}],
    "a null action": [event(action=None)],
    "a number for the action": [event(action=5)],
    "an unknown eventType": [event(eventType="AUDIT")],
    "an eventType that is not a string": [event(eventType=1)],
    "a string for the timestamp": [event(timestamp="yesterday")],
    "a huge timestamp": [event(timestamp=10**400)],
    "a string for runStateChange": [event(runStateChange="yes")],
    "an unknown field": [event(admin=True)],
    "an unknown field in a resource": [event(affectedResource={"resourceType": "STACK", "owner": "x"})],
    "a resource without its type": [event(affectedResource={"resourceId": "s-1"})],
    "a list for a resource": [event(affectedResource=[{"resourceType": "STACK"}])],
    "a run missing its stack": [event(run={"id": "r-1"})],
    "the 1000th of 1000 events bad": [*([event()] * 999), event(eventType="AUDIT")],
    "more errors than graphql-core reports": [event(eventType="AUDIT")] * 60,
}


def build(
    context_class: type[CompiledCompletionContext], document: str, variables: Any
) -> list[GraphQLError] | Executor[Any]:
    return context_class.build(SCHEMA, parse(document), raw_variable_values=variables)


def outcome(result: list[GraphQLError] | Executor[Any]) -> Any:
    """What a request would see of the build: its errors as formatted, or the variables' values and sources."""
    if isinstance(result, list):
        return [error.formatted for error in result]
    variables = result.variable_values
    return variables.coerced, {name: source.value for name, source in variables.sources.items()}


def assert_same_as_graphql_core(document: str, variables: Any) -> Any:
    ours = outcome(build(FastVariablesContext, document, variables))
    plain = outcome(build(CompiledCompletionContext, document, variables))
    assert ours == plain
    return ours


@pytest.mark.parametrize("events", VALID.values(), ids=VALID.keys())
def test_valid_batches_coerce_to_graphql_cores_values(events: Any) -> None:
    coerced, sources = assert_same_as_graphql_core(RECORD, {"events": events})
    assert sources == {"events": events}
    assert isinstance(coerced["events"], list)


@pytest.mark.parametrize("events", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_batches_get_graphql_cores_errors_with_their_paths(events: Any) -> None:
    errors = assert_same_as_graphql_core(RECORD, {"events": events})
    assert isinstance(errors, list) and errors
    assert all(error["message"].startswith(("Variable", "Too many errors")) for error in errors)


def test_the_service_schema_executes_with_the_compiled_coercion() -> None:
    assert BUILT.execution_context_class is FastVariablesContext


def test_the_fast_path_takes_valid_batches_and_leaves_refused_ones_to_graphql_core() -> None:
    document = parse(RECORD)
    coerced = coerce_hot_variables(SCHEMA, document, None, {"events": [EVERY_FIELD]})
    assert coerced is not None
    assert coerced["events"][0][0]["affectedResource"] == {"resourceType": "STACK", "resourceId": "s-1"}
    assert coerced["events"][0][0]["timestamp"] == 1_700_000_000_000.0
    assert coerce_hot_variables(SCHEMA, document, None, {"events": [event(eventType="AUDIT")]}) is None


def test_variables_of_other_types_are_left_to_graphql_core() -> None:
    search = (
        "query($predicates: [QueryPredicate!]) {"
        " searchAuditTrailEntries(input: {predicates: $predicates}) { edges { cursor } } }"
    )
    predicates = [{"field": "action", "constraint": {"stringMatches": ["stack.*"]}}]
    assert coerce_hot_variables(SCHEMA, parse(search), None, {"predicates": predicates}) is None
    assert_same_as_graphql_core(search, {"predicates": predicates})


def test_a_hot_type_with_required_fields_is_compiled_only_in_a_list() -> None:
    """An empty object is no placeholder for a type with required fields: graphql-core would refuse it."""
    single = "mutation($e: AuditTrailEventInput!) { auditTrailRecordEvents(events: [$e]) { id } }"
    assert coerce_hot_variables(SCHEMA, parse(single), None, {"e": event()}) is None
    assert_same_as_graphql_core(single, {"e": event()})
    assert_same_as_graphql_core(single, {"e": event(eventType="AUDIT")})


SEARCH = "query($input: SearchInput!) { searchAuditTrailEntries(input: $input) { edges { cursor } } }"
SEARCH_NULLABLE = "query($input: SearchInput) { searchAuditTrailEntries(input: $input) { edges { cursor } } }"
SUGGESTIONS = (
    "query($input: SearchSuggestionsInput!) { searchAuditTrailEntriesSuggestions(input: $input) { filteredCount } }"
)
ACTION = {"field": "action", "constraint": {"stringMatches": ["stack.update", "run.*"]}}
SEVEN_DAYS = {"field": "createdAt", "constraint": {"timeInRange": {"start": 1_700_000_000}}}
SEARCH_VALID: dict[str, Any] = {
    "nothing": {},
    "spacectl's filtered page": {"first": 50, "predicates": [ACTION, SEVEN_DAYS]},
    "every field": {
        "first": 10,
        "after": "cursor",
        "fullTextSearch": "deploy",
        "predicates": [
            {"field": "eventType", "constraint": {"enumEquals": ["CREATE"]}, "exclude": True},
            {"field": "runStateChange", "constraint": {"booleanEquals": [True, False]}},
            {"field": "createdAt", "constraint": {"timeInLast": {"number": 7, "unit": "DAYS"}}},
            {"field": "createdAt", "constraint": {"timeInRange": {"startAt": "2026-11-01T00:00:00Z", "end": None}}},
        ],
        "orderBy": {"field": "createdAt", "direction": "ASC"},
    },
    "every nullable field null": {"first": None, "after": None, "fullTextSearch": None, "predicates": None},
    "a predicate, not a list": {"predicates": ACTION},
    "a string, not a list of one": {"predicates": [{"field": "action", "constraint": {"stringMatches": "stack.*"}}]},
    "an order without its direction": {"orderBy": {"field": "createdAt"}},
}
SEARCH_HOSTILE: dict[str, Any] = {
    "null": None,
    "a string": "input",
    "a list": [{}],
    "a string for first": {"first": "ten"},
    "first past 32 bits": {"first": 2**40},
    "a float for first": {"first": 1.5},
    "an unknown field": {"first": 1, "admin": True},
    "a null predicate": {"predicates": [ACTION, None]},
    "a predicate without its constraint": {"predicates": [{"field": "action"}]},
    "an unknown constraint": {"predicates": [{"field": "action", "constraint": {"sqlMatches": ["x"]}}]},
    "a string for a time": {"predicates": [{"field": "createdAt", "constraint": {"timeInRange": {"start": "now"}}}]},
    "a bad date-time": {"predicates": [{"field": "createdAt", "constraint": {"timeInRange": {"startAt": "soon"}}}]},
    "an unknown unit": {
        "predicates": [{"field": "createdAt", "constraint": {"timeInLast": {"number": 1, "unit": "X"}}}]
    },
    "an unknown direction": {"orderBy": {"field": "createdAt", "direction": "UP"}},
    "a number for the words": {"fullTextSearch": 5},
    "lists nested past the depth limit": {"predicates": deeply_nested(1_000, ACTION)},
}


@pytest.mark.parametrize("document", [SEARCH, SEARCH_NULLABLE], ids=["SearchInput!", "SearchInput"])
@pytest.mark.parametrize("value", SEARCH_VALID.values(), ids=SEARCH_VALID.keys())
def test_valid_search_inputs_coerce_to_graphql_cores_values_by_the_fast_path(document: str, value: Any) -> None:
    assert coerce_hot_variables(SCHEMA, parse(document), None, {"input": value}) is not None
    coerced, sources = assert_same_as_graphql_core(document, {"input": value})
    assert sources == {"input": value}
    assert isinstance(coerced["input"], dict)


@pytest.mark.parametrize("document", [SEARCH, SEARCH_NULLABLE], ids=["SearchInput!", "SearchInput"])
@pytest.mark.parametrize("value", SEARCH_HOSTILE.values(), ids=SEARCH_HOSTILE.keys())
def test_hostile_search_inputs_get_graphql_cores_errors(document: str, value: Any) -> None:
    assert_same_as_graphql_core(document, {"input": value})


def test_a_null_or_missing_search_input_is_graphql_cores_to_answer() -> None:
    for variables in ({"input": None}, {}):
        assert_same_as_graphql_core(SEARCH_NULLABLE, variables)
        assert isinstance(assert_same_as_graphql_core(SEARCH, variables), list)


SUGGESTION_INPUTS: list[Any] = [
    {},
    {"field": "action", "predicates": [SEVEN_DAYS]},
    {"fields": ["action", "actor"], "fullTextSearch": "x"},
    {"fields": "action"},
    {"field": 5},
    {"predicates": [None]},
    {"unknown": 1},
]


@pytest.mark.parametrize("value", SUGGESTION_INPUTS)
def test_suggestion_inputs_coerce_as_graphql_core_does(value: Any) -> None:
    assert_same_as_graphql_core(SUGGESTIONS, {"input": value})


@pytest.mark.parametrize("events", [[event(), None], None, [], event()], ids=["a null item", "null", "empty", "one"])
def test_a_nullable_list_variable_coerces_as_graphql_core_does(events: Any) -> None:
    assert_same_as_graphql_core(RECORD_NULLABLE, {"events": events})


def test_a_missing_variable_is_graphql_cores_to_report() -> None:
    errors = assert_same_as_graphql_core(RECORD, {})
    assert errors[0]["message"].startswith("Variable '$events' has invalid value: Expected a value of non-null type")


@pytest.mark.parametrize("days", [30, "thirty", None], ids=["valid", "a string", "null"])
def test_other_variables_of_the_operation_keep_graphql_cores_coercion(days: Any) -> None:
    assert_same_as_graphql_core(RECORD_AND_RETAIN, {"events": [EVERY_FIELD], "days": days})
    assert_same_as_graphql_core(RECORD_AND_RETAIN, {"events": [event(action=5)], "days": days})


def test_a_document_of_several_operations_picks_the_named_one_as_graphql_core_does() -> None:
    document = f"{RECORD.replace('mutation(', 'mutation Record(')} query Viewer {{ viewer {{ id }} }}"
    for name in ("Record", "Viewer", None, "Unknown"):
        ours = outcome(FastVariablesContext.build(SCHEMA, parse(document), None, None, {"events": [event()]}, name))
        plain = outcome(
            CompiledCompletionContext.build(SCHEMA, parse(document), None, None, {"events": [event()]}, name)
        )
        assert ours == plain


@pytest.mark.parametrize("written", ["SearchInput", "SearchInput!", "[ID]", "[ID!]!", "[ [AuditTrailEventInput!] ]!"])
def test_a_variables_type_reads_as_graphql_core_prints_it(written: str) -> None:
    """The hot coercers are kept by the type's text: it must be ``print_ast``'s, or a variable of a hot
    type would be coerced the slow way, or a type would be taken for another."""
    node = parse_type(written)
    assert type_text(node) == print_ast(node)
