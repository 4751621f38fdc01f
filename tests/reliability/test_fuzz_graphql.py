"""Fuzzing ``/graphql``: schemathesis' GraphQL mode for every query and mutation with an ADMIN token,
hypothesis for the search and ingestion inputs (wrong types and extreme values included), and hostile
documents (``bench.hostile_documents`` at random sizes, without a token), reporting the costliest.

Every answer is a clear one: no 5xx, no INTERNAL_SERVER_ERROR, every error with ``extensions.code``.
The API process sends webhook traffic for invented endpoints to a dead proxy on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from api.audit.query import SEARCH_FIELDS, TimeUnit
from api.graphql.schema import build_schema
from api.models import Role
from api.settings import Settings
from bench.documents import answer_of
from bench.hostile_documents import BUILDERS, operation_name
from tests.reliability.conftest import sizes
from tests.reliability.stack import Stack

SEARCH = "query($input: SearchInput!) { searchAuditTrailEntries(input: $input) { edges { cursor node { id } } } }"
SUGGEST = (
    "query($input: SearchSuggestionsInput!) { searchAuditTrailEntriesSuggestions(input: $input) {"
    " filteredCount fields { name possibleValuesString { values counts } } } }"
)
RECORD = (
    "mutation($events: [AuditTrailEventInput!]!) { auditTrailRecordEvents(events: $events) {"
    " id action body timestamp } }"
)
INT32 = st.integers(-(2**31), 2**31 - 1)
WILD_INT = st.one_of(INT32, st.integers(-(2**63), 2**63))


def fuzz_settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
    )


class Verdicts:
    """Counts answers and keeps the ones that break the rules."""

    def __init__(self) -> None:
        self.cases = 0
        self.statuses: Counter[int] = Counter()
        self.codes: Counter[str] = Counter()
        self.broken: list[tuple[str, Any, str]] = []

    def judge(self, label: str, sent: Any, status_code: int, text: str) -> None:
        self.cases += 1
        self.statuses[status_code] += 1
        if status_code >= 500:
            self.broken.append((label, sent, text[:500]))
            return
        try:
            body = httpx.Response(status_code, content=text.encode()).json()
        except ValueError:
            # strawberry answers what it cannot parse as HTTP (not GraphQL) with a plain-text 4xx reason.
            if not (400 <= status_code < 500 and text.strip()):
                self.broken.append((label, sent, f"not JSON: {text[:300]}"))
            else:
                self.codes[f"HTTP {status_code} (plain text)"] += 1
            return
        for error in body.get("errors") or []:
            code = (error.get("extensions") or {}).get("code")
            self.codes[str(code)] += 1
            if code in (None, "", "INTERNAL_SERVER_ERROR"):
                self.broken.append((label, sent, str(error)[:500]))

    def summary(self) -> str:
        return f"{self.cases} cases, statuses {dict(self.statuses)}, error codes {dict(self.codes)}"


def admin_token(stack: Stack, name: str) -> str:
    """From a sync test: a loop of its own, leaving the session's loop alone."""
    loop = asyncio.new_event_loop()
    try:
        tenant = loop.run_until_complete(stack.tenant(name, (Role.ADMIN,)))
    finally:
        loop.close()
    return tenant.tokens[Role.ADMIN]


@sizes(15, 150)
def test_schemathesis_finds_no_internal_error(stack: Stack, size: int) -> None:
    token = admin_token(stack, f"schemathesis-{size}")
    schema = schemathesis.graphql.from_url(f"{stack.url}/graphql")
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]  # an Err raises here, as it should
    verdicts = Verdicts()
    for operation in operations:

        @given(case=operation.as_strategy())
        @fuzz_settings(size)
        def call(case: Any) -> None:
            response = case.call(headers={"Authorization": f"Bearer {token}"}, timeout=30)
            stack.record_response(response.text)
            verdicts.judge(case.operation.label, case.body, response.status_code, response.text)

        call()
    print(f"\nschemathesis: {len(operations)} operations, {verdicts.summary()}")
    # Every root field of the schema was fuzzed (schemathesis reads them from introspection).
    root = build_schema()._schema
    assert len(operations) == len(root.query_type.fields) + len(root.mutation_type.fields)  # type: ignore[union-attr]
    assert verdicts.broken == []
    assert stack.api_is_alive()


def constraint() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {},
        optional={
            "booleanEquals": st.lists(st.booleans(), max_size=3),
            "enumEquals": st.lists(st.sampled_from(["CREATE", "UPDATE", "DELETE"]) | st.text(max_size=20), max_size=3),
            "stringMatches": st.lists(st.text(max_size=40), max_size=3),
            "timeInRange": st.fixed_dictionaries({}, optional={"start": INT32 | st.none(), "end": INT32 | st.none()}),
            "timeInLast": st.fixed_dictionaries(
                {"number": INT32, "unit": st.sampled_from([unit.value for unit in TimeUnit])}
            ),
        },
    )


def search_input() -> st.SearchStrategy[dict[str, Any]]:
    field_name = st.sampled_from(list(SEARCH_FIELDS)) | st.text(max_size=20)
    predicate = st.fixed_dictionaries(
        {"field": field_name, "constraint": constraint()}, optional={"exclude": st.booleans() | st.none()}
    )
    return st.fixed_dictionaries(
        {},
        optional={
            "first": INT32 | st.none(),
            "after": st.text(max_size=80) | st.binary(max_size=40).map(lambda raw: raw.hex()) | st.none(),
            "fullTextSearch": st.text(max_size=300) | st.none(),
            "predicates": st.lists(predicate, max_size=4) | st.none(),
            "orderBy": st.fixed_dictionaries(
                {"field": field_name}, optional={"direction": st.sampled_from(["ASC", "DESC"])}
            ),
        },
    )


JSON_LEAF = st.one_of(
    st.none(), st.booleans(), WILD_INT, st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=60)
)
JSON_VALUE = st.recursive(
    JSON_LEAF, lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
)


def event_input() -> st.SearchStrategy[dict[str, Any]]:
    action = st.from_regex(r"\A[a-z0-9_]{1,12}(\.[a-z0-9_]{1,12}){1,3}\Z") | st.text(max_size=140)
    actor = st.from_regex(r"\A[a-z]{1,8}::[a-zA-Z0-9@._-]{1,20}\Z") | st.text(max_size=300)
    resource = st.fixed_dictionaries(
        {"resourceType": st.text(max_size=300)}, optional={"resourceId": st.text(max_size=300) | st.none()}
    )
    return st.fixed_dictionaries(
        {"action": action, "actor": actor},
        optional={
            "eventType": st.sampled_from(["CREATE", "UPDATE", "DELETE"]),
            "affectedResource": resource | st.none(),
            "relatedResource": resource | st.none(),
            "run": st.fixed_dictionaries({"id": st.text(max_size=300), "stackId": st.text(max_size=300)}) | st.none(),
            "context": JSON_VALUE,
            "data": JSON_VALUE,
            "remoteIP": st.ip_addresses().map(str) | st.text(max_size=50) | st.none(),
            "timestamp": st.floats(allow_nan=True, allow_infinity=True) | WILD_INT | st.none(),
            "externalId": st.from_regex(r"\A[a-z0-9-]{1,8}\Z") | st.text(max_size=200) | st.none(),
        },
    )


def post(client: httpx.Client, stack: Stack, token: str, query: str, variables: Any) -> httpx.Response:
    """Variables go out as Python's json writes them: NaN and Infinity included, as some clients send."""
    import json

    body = json.dumps({"query": query, "variables": variables}).encode()
    response = client.post(
        f"{stack.url}/graphql",
        content=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    stack.record_response(response.text)
    return response


@sizes(150, 1500)
def test_search_inputs_never_cause_an_internal_error(stack: Stack, size: int) -> None:
    token = admin_token(stack, f"fuzz-search-{size}")
    verdicts = Verdicts()
    with httpx.Client(timeout=30) as client:
        post(client, stack, token, RECORD, {"events": [{"action": "fuzz.seed", "actor": "fuzz::seed"}]})

        @given(search=search_input() | JSON_VALUE, suggest=st.booleans())
        @fuzz_settings(size)
        def call(search: Any, suggest: bool) -> None:
            query = SUGGEST if suggest else SEARCH
            response = post(client, stack, token, query, {"input": search})
            verdicts.judge("search", search, response.status_code, response.text)

        call()
    print(f"\nhypothesis search: {verdicts.summary()}")
    assert verdicts.broken == []


@sizes(100, 1000)
def test_ingestion_inputs_never_cause_an_internal_error(stack: Stack, size: int) -> None:
    token = admin_token(stack, f"fuzz-ingest-{size}")
    verdicts = Verdicts()
    with httpx.Client(timeout=30) as client:

        @given(events=st.lists(event_input(), min_size=0, max_size=4) | JSON_VALUE)
        @fuzz_settings(size)
        def call(events: Any) -> None:
            response = post(client, stack, token, RECORD, {"events": events})
            verdicts.judge("ingest", events, response.status_code, response.text)

        call()
    print(f"\nhypothesis ingestion: {verdicts.summary()}")
    assert verdicts.broken == []


BAD_REQUESTS: list[tuple[str, bytes, str]] = [
    ("malformed JSON", b"{not json", "application/json"),
    ("JSON string", b'"query"', "application/json"),
    ("JSON number", b"42", "application/json"),
    ("query not a string", b'{"query": 42}', "application/json"),
    ("variables not an object", b'{"query": "{ viewer { id } }", "variables": "x"}', "application/json"),
    ("invalid UTF-8", b'{"query": "\xff\xfe{ viewer }"}', "application/json"),
    ("empty batch", b"[]", "application/json"),
    ("batch flood", b"[" + b",".join([b'{"query": "{ __typename }"}'] * 5000) + b"]", "application/json"),
    (
        "deeply nested variables",
        b'{"query": "{ __typename }", "variables": {"x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}",
        "application/json",
    ),
    ("text body", b"{ viewer { id } }", "text/plain"),
    ("syntax error", b'{"query": "{ viewer { "}', "application/json"),
    ("unknown operation name", b'{"query": "query A { __typename }", "operationName": "B"}', "application/json"),
    ("two operations, no name", b'{"query": "query A { __typename } query B { __typename }"}', "application/json"),
    (
        "fragment cycle",
        b'{"query": "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }"}',
        "application/json",
    ),
]


def deep_query(depth: int) -> str:
    return "{ __schema { types { " + "fields { type { " * depth + "name" + " } }" * depth + " } } }"


def alias_flood(count: int) -> str:
    return "{ " + " ".join(f"a{n}: __typename" for n in range(count)) + " }"


def field_flood(count: int) -> str:
    return "{ viewer { " + " ".join(["id"] * count) + " } }"


def directive_flood(count: int) -> str:
    return "{ __typename " + " ".join(["@include(if: true)"] * count) + " }"


def test_malformed_and_abusive_requests_get_clear_4xx_or_graphql_errors(stack: Stack) -> None:
    token = admin_token(stack, "abuse")
    answers: dict[str, int] = {}
    verdicts = Verdicts()
    documents = {
        "deep query": deep_query(30),
        "alias flood": alias_flood(5000),
        "duplicate field flood": field_flood(20_000),
        "directive flood": directive_flood(5000),
        "huge document": "# " + "x" * 200_000 + "\n{ __typename }",
    }
    with httpx.Client(timeout=60) as client:
        url, auth = f"{stack.url}/graphql", {"Authorization": f"Bearer {token}"}
        for label, body, content_type in BAD_REQUESTS:
            response = client.post(url, content=body, headers={**auth, "Content-Type": content_type})
            stack.record_response(response.text)
            answers[label] = response.status_code
            if response.headers.get("content-type", "").startswith("application/json"):
                verdicts.judge(label, body[:80], response.status_code, response.text)
        for label, document in documents.items():
            response = client.post(url, json={"query": document}, headers=auth)
            stack.record_response(response.text)
            answers[label] = response.status_code
            if response.headers.get("content-type", "").startswith("application/json"):
                verdicts.judge(label, document[:80], response.status_code, response.text)
        huge = client.post(
            url,
            content=b'{"query": "{ __typename }", "variables": {"x": "' + b"y" * 9_000_000 + b'"}}',
            headers={**auth, "Content-Type": "application/json"},
        )
        answers["huge body"] = huge.status_code
        disable = "mutation { auditTrailDisableWebhook { enabled } }"
        mutation_over_get = client.get(url, params={"query": disable}, headers=auth)
        answers["mutation over GET"] = mutation_over_get.status_code
        still_up = client.post(url, json={"query": "{ viewer { role } }"}, headers=auth)
        health = client.get(f"{stack.url}/healthz")
    print(f"\nabusive requests: {answers}; {verdicts.summary()}")
    assert all(400 <= status < 500 or status == 200 for status in answers.values()), answers
    assert answers["huge body"] == 413  # refused before it is read: not a GraphQL request yet
    assert answers["huge document"] == 200  # a GraphQL request: answered with PAYLOAD_TOO_LARGE, status 200
    assert verdicts.broken == []
    for label in ("deep query", "alias flood", "directive flood", "syntax error", "fragment cycle"):
        assert answers[label] in (200, 400), label
    assert still_up.json() == {"data": {"viewer": {"role": "ADMIN"}}}
    assert health.status_code == 200 and stack.api_is_alive()


@pytest.mark.parametrize("label", ["deep query", "alias flood"])
def test_limits_answer_with_a_validation_code(stack: Stack, label: str) -> None:
    # 100 aliases: over the alias limit, within the byte, token and field limits that would refuse first.
    document = deep_query(30) if label == "deep query" else alias_flood(100)
    response = httpx.post(f"{stack.url}/graphql", json={"query": document}, timeout=60)
    stack.record_response(response.text)
    assert response.status_code in (200, 400)
    assert {error["extensions"]["code"] for error in response.json()["errors"]} == {"GRAPHQL_VALIDATION_FAILED"}


SENDS_PER_DOCUMENT = 4
"""The OS counts a process's CPU time in 10 ms ticks: a few sends of each document make it finer."""


def server_cpu_seconds(stack: Stack) -> float:
    assert stack.api_process is not None
    times = psutil.Process(stack.api_process.pid).cpu_times()
    return float(times.user + times.system)


def costliest_report(costs: list[tuple[float, str, str, str]], count: int = 10) -> str:
    """The ``count`` costliest answers, one per line: CPU milliseconds, answer, what was sent, its start."""
    lines = [f"{ms:8.1f} ms CPU  {answer:26} {label}  {sent[:160]!r}" for ms, answer, label, sent in costs[:count]]
    return "\n".join(lines) + "\n"


@sizes(60, 600)
def test_hostile_documents_get_clear_answers_and_the_costliest_is_reported(
    stack: Stack, size: int, tmp_path: Path, record_property: Any
) -> None:
    """No timing is asserted: structural limits bound the cost, and this run reports what it found
    (printed, in the JUnit report's properties, and in ``hostile-documents.txt`` under the test's tmp dir).
    The cost is the API process's CPU time (user + system) per answer, over a few sends one at a time."""
    limits = Settings()  # the stack's API runs with the default limits
    verdicts = Verdicts()
    costs: list[tuple[float, str, str, str]] = []
    with httpx.Client(timeout=60) as client:

        @given(kind=st.sampled_from(sorted(BUILDERS)), scale=st.floats(0.01, 1.2), padding=st.integers(0, 3))
        @fuzz_settings(size)
        def call(kind: str, scale: float, padding: int) -> None:
            document = " " * padding + BUILDERS[kind](limits, scale)
            body = {"query": document, "operationName": operation_name(document.lstrip())}
            cpu_before = server_cpu_seconds(stack)
            for _ in range(SENDS_PER_DOCUMENT):
                response = client.post(f"{stack.url}/graphql", json=body)
            cpu_ms = (server_cpu_seconds(stack) - cpu_before) * 1000 / SENDS_PER_DOCUMENT
            stack.record_response(response.text)
            verdicts.judge(kind, document[:80], response.status_code, response.text)
            costs.append((cpu_ms, answer_of(response), f"{kind} x{scale:.2f} ({len(document)} chars)", document))

        call()
        health = client.get(f"{stack.url}/healthz")
    costs.sort(reverse=True)
    report = costliest_report(costs)
    (tmp_path / "hostile-documents.txt").write_text(report)
    worst_ms, worst_answer, worst_label, _ = costs[0]
    record_property("most_expensive_hostile_document", f"{worst_label}: {worst_ms:.1f} ms, {worst_answer}")
    print(f"\nhostile documents: {verdicts.summary()}\nmost expensive first:\n{report}")
    assert verdicts.broken == []
    assert set(verdicts.statuses) == {200}
    assert health.status_code == 200 and stack.api_is_alive()
