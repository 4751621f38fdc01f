"""Limits and error shapes of the GraphQL endpoint: clear errors, never a stack trace."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import jwt as pyjwt
import orjson
import pytest
import strawberry
from graphql import get_introspection_query, parse

from api.graphql.document_limits import DocumentSize, measure
from api.graphql.errors import ErrorCodes
from api.graphql.schema import build_schema
from api.models import Role
from api.settings import Settings
from bench.hostile_documents import operation_name, worst_documents
from tests.conftest import TEST_SECRET_KEY
from tests.helpers import Api
from tests.test_audit_support import event_count


async def test_query_deeper_than_the_limit_is_refused() -> None:
    """Our schema has no cycles deeper than the default 10, so the limit is lowered to show it bites."""
    schema = build_schema(Settings(max_query_depth=1))
    result = await schema.execute("{ viewer { account { name } } }")
    assert result.data is None and result.errors is not None
    error = result.errors[0].formatted
    assert "exceeds maximum operation depth of 1" in error["message"]
    assert error["extensions"] == {"code": "GRAPHQL_VALIDATION_FAILED"}


async def test_alias_flood_is_refused(api: Api) -> None:
    aliases = " ".join(f"a{i}: __typename" for i in range(api.settings.max_aliases + 1))
    result = await api.gql(f"{{ {aliases} }}")
    assert result.data is None
    assert "aliases" in result.errors[0]["message"]
    assert result.codes == ["GRAPHQL_VALIDATION_FAILED"]


async def test_document_over_the_byte_limit_is_a_graphql_error_with_status_200(api: Api) -> None:
    """Spacelift's Go clients read any status but 200 as a transport failure and drop the message."""
    padding = "#" + "x" * api.settings.max_query_bytes + "\n"
    response = await api.client.post("/graphql", json={"query": padding + "{ __typename }"})
    assert response.status_code == 200
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
    assert f"limited to {api.settings.max_query_bytes} bytes" in error["message"]


async def test_request_body_over_the_limit_is_refused_with_413(api: Api) -> None:
    body = b'{"query": "{ __typename }", "variables": {"x": "' + b"y" * api.settings.max_request_bytes + b'"}}'
    response = await api.client.post("/graphql", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"


async def test_malformed_json_is_a_400_not_a_500(api: Api) -> None:
    response = await api.client.post("/graphql", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 400


async def test_syntax_error_has_a_code(api: Api) -> None:
    result = await api.gql("{ viewer { ")
    assert result.codes == ["GRAPHQL_VALIDATION_FAILED"] or result.codes == ["GRAPHQL_PARSE_FAILED"]


@pytest.mark.parametrize(
    ("document", "line", "column"),
    [("{  }", 1, 1), ("query Q {}", 1, 9), ("{ viewer {\n } }", 1, 10), ("{ ... on Query { } }", 1, 16),
     ("{ viewer { id } } fragment F on Viewer {}", 1, 40)],
)  # fmt: skip
async def test_an_empty_selection_set_is_a_syntax_error_with_its_place(
    api: Api, document: str, line: int, column: int
) -> None:
    """graphql-core parses ``{ }``; strawberry's depth limit failed on it with ``max() arg is an empty
    sequence`` as the message (the soak fuzzer found it)."""
    key = await api.key("acme", Role.READER)
    result = await api.gql(document, token=key.jwt)
    assert result.status_code == 200 and result.codes == ["GRAPHQL_VALIDATION_FAILED"], result.json
    [error] = result.errors
    assert error["message"] == "Syntax Error: a selection set must select at least one field."
    assert error["locations"] == [{"line": line, "column": column}]


async def test_unexpected_exceptions_are_masked_with_the_request_id() -> None:
    @strawberry.type
    class Query:
        @strawberry.field
        def explode(self) -> str:
            raise RuntimeError("connection string postgresql://secret@db leaked?")

    class Context:
        request_id = "req-123"

    schema = strawberry.Schema(query=Query, extensions=[ErrorCodes])
    result = await schema.execute("{ explode }", context_value=Context())
    assert result.errors is not None
    error = result.errors[0].formatted
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR"}
    assert "req-123" in error["message"]
    assert "secret" not in str(error)


async def test_graphiql_is_served_to_browsers(api: Api) -> None:
    response = await api.client.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


async def test_nul_characters_are_bad_input_wherever_they_are_sent(api: Api) -> None:
    """PostgreSQL cannot store NUL in text or jsonb; the fuzzer found it behind an internal error."""
    admin = await api.key("acme", Role.ADMIN)
    search = "query($q: String) { searchAuditTrailEntries(input: {fullTextSearch: $q}) { edges { cursor } } }"
    record = "mutation($events: [AuditTrailEventInput!]!) { auditTrailRecordEvents(events: $events) { id } }"
    attempts: list[tuple[str, dict[str, Any]]] = [
        (search, {"q": "a\x00b"}),
        ('mutation($n: String!) { apiKeyCreate(input: {name: $n, role: READER}) { id } }', {"n": "key\x00"}),
        (record, {"events": [{"action": "nul.data", "actor": "svc::x", "eventType": "CREATE",
                              "data": {"note": "a\x00b"}}]}),
        (record, {"events": [{"action": "nul.resource", "actor": "svc::x", "eventType": "CREATE",
                              "affectedResource": {"resourceType": "STACK", "resourceId": "s\x00"}}]}),
    ]  # fmt: skip
    events_before = await event_count(api.db, admin.account_id)
    for document, variables in attempts:
        result = await api.gql(document, variables, token=admin.jwt)
        assert result.codes == ["BAD_USER_INPUT"], result.json
        assert "NUL character" in result.errors[0]["message"]
    assert await event_count(api.db, admin.account_id) == events_before


async def test_every_graphql_answer_to_a_post_is_status_200(api: Api) -> None:
    """Spacelift's Go clients treat any other status as a transport error and drop the GraphQL message."""
    key = await api.key("acme", Role.READER)
    documents = {
        "syntax error": ({"query": "{ viewer { "}, "GRAPHQL_VALIDATION_FAILED"),
        "unknown field": ({"query": "{ nope }"}, "GRAPHQL_VALIDATION_FAILED"),
        "unknown operation name": (
            {"query": "query A { viewer { id } }", "operationName": "C"},
            "GRAPHQL_VALIDATION_FAILED",
        ),
        "no token": ({"query": "{ viewer { id } }"}, "UNAUTHENTICATED"),
    }
    for label, (body, code) in documents.items():
        headers = {} if label == "no token" else {"Authorization": f"Bearer {key.jwt}"}
        response = await api.client.post("/graphql", json=body, headers=headers)
        assert response.status_code == 200, (label, response.text)
        assert [error["extensions"]["code"] for error in response.json()["errors"]] == [code], label
    not_graphql = await api.client.post("/graphql", json={"variables": {}})
    assert not_graphql.status_code == 400  # no query: not a GraphQL request at all


async def test_a_document_with_too_many_tokens_is_refused_before_it_is_parsed_in_full(api: Api) -> None:
    key = await api.key("acme", Role.READER)
    flood = "{ " + " ".join(f"f{n}: __typename" for n in range(api.settings.max_query_tokens)) + " }"
    assert len(flood.encode()) < api.settings.max_query_bytes
    result = await api.gql(flood, token=key.jwt)
    assert result.status_code == 200 and result.codes == ["GRAPHQL_VALIDATION_FAILED"]
    assert f"more than {api.settings.max_query_tokens} tokens" in result.errors[0]["message"]


async def test_a_field_flood_is_refused_before_any_validation_rule_runs(api: Api) -> None:
    """Unknown fields would each be an error of validation: the only error is the size, so no rule ran."""
    fields = api.settings.max_query_fields + 1
    result = await api.gql("{ " + " ".join(f"f{n}" for n in range(fields)) + " }")
    assert result.status_code == 200 and result.codes == ["GRAPHQL_VALIDATION_FAILED"]
    assert result.errors[0]["message"] == (
        f"the document is too large to validate: {fields} fields (at most {api.settings.max_query_fields})"
    )


async def test_fragments_spreads_and_directives_are_counted_wherever_they_are() -> None:
    document = """
        query($id: ID! @deprecated) { ...A ... on Query @skip(if: false) { ...B viewer { id @include(if: true) } } }
        fragment A on Query { __typename ...B }
        fragment B on Query @d { viewer { account { name } } }
    """
    size = measure(parse(document))
    assert size == DocumentSize(fields=6, fragments=2, fragment_spreads=3, directives=4, variables=1)


@pytest.mark.parametrize(
    ("setting", "document", "refusal"),
    [
        ("max_query_fragments", "{ ...A } fragment A on Query { ...B } fragment B on Query { __typename }",
         "2 fragments (at most 1)"),
        ("max_query_fragment_spreads", "{ ...A ...A } fragment A on Query { __typename }",
         "2 fragment spreads (at most 1)"),
        ("max_query_directives", "{ __typename @skip(if: false) @include(if: true) }", "2 directives (at most 1)"),
        ("max_query_variables", "query($a: Int, $b: Int) { __typename }", "2 variables (at most 1)"),
    ],
)  # fmt: skip
async def test_each_count_over_its_limit_is_refused_with_the_count_and_the_limit(
    setting: str, document: str, refusal: str
) -> None:
    schema = build_schema(Settings.model_validate({setting: 1}))
    result = await schema.execute(document)
    assert result.data is None and result.errors is not None
    [error] = [error.formatted for error in result.errors]
    assert error["message"] == f"the document is too large to validate: {refusal}"
    assert error["extensions"] == {"code": "GRAPHQL_VALIDATION_FAILED"}


async def test_the_limits_leave_room_for_graphiqls_introspection_query() -> None:
    """The largest document a real client sends here (the console's and Spacelift's are far smaller)."""
    introspection = get_introspection_query(
        descriptions=True,
        specified_by_url=True,
        directive_is_repeatable=True,
        schema_description=True,
        input_value_deprecation=True,
    )
    result = await build_schema(Settings()).execute(introspection)
    assert result.errors is None
    assert result.data is not None and result.data["__schema"]["queryType"]["name"] == "Query"


async def test_every_hostile_document_is_answered_with_a_code_and_the_service_stays_up(api: Api) -> None:
    """The costliest documents we know of, at the limits and past them, sent without a token."""
    answered: dict[str, str] = {}
    for label, document in worst_documents(api.settings).items():
        body = {"query": document, "operationName": operation_name(document)}
        response = await api.client.post("/graphql", json=body)
        assert response.status_code == 200, (label, response.text[:300])
        codes = {error["extensions"]["code"] for error in response.json().get("errors") or []}
        assert "INTERNAL_SERVER_ERROR" not in codes and None not in codes, (label, response.text[:300])
        answered[label] = ",".join(sorted(codes)) or "executed"
    assert answered["same field repeated (past the limit)"] == "GRAPHQL_VALIDATION_FAILED"
    assert answered["huge string (past the limit)"] == "PAYLOAD_TOO_LARGE"
    assert answered["token flood (past the limit)"] == "GRAPHQL_VALIDATION_FAILED"
    assert (await api.client.get("/healthz")).status_code == 200


INGEST = "mutation($events: [AuditTrailEventInput!]!) { auditTrailRecordEvents(events: $events) { id } }"


def ingestion_body(events: int) -> bytes:
    """An ingestion request of ``events`` events, about 300 bytes each."""
    event = {"action": "stack.create", "actor": "github::alice", "eventType": "CREATE", "data": {"note": "x" * 200}}
    return orjson.dumps({"query": INGEST, "variables": {"events": [event] * events}})


@pytest.mark.parametrize(
    "authorization", [None, "Bearer not-a-token", "Basic abc", "Bearer {forged}", "Bearer {expired}"]
)
async def test_a_large_body_without_a_valid_token_is_refused_before_it_is_read(
    api: Api, authorization: str | None
) -> None:
    """A client holding no key must not get 8 MB of variables parsed and coerced for nothing."""
    service = await api.key("acme", Role.SERVICE)
    claims = pyjwt.decode(service.jwt, options={"verify_signature": False})
    forged = pyjwt.encode(claims, "another-service-secret-of-enough-length", algorithm="HS256")
    expired = pyjwt.encode({**claims, "exp": int(time.time()) - 10}, TEST_SECRET_KEY, algorithm="HS256")
    before = await event_count(api.db)
    body = ingestion_body(300)
    assert len(body) > api.settings.max_anonymous_request_bytes
    headers = {"content-type": "application/json"}
    if authorization is not None:
        headers["authorization"] = authorization.format(forged=forged, expired=expired)
    response = await api.client.post("/graphql", content=body, headers=headers)
    assert response.status_code == 413
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
    assert (
        f"without a valid bearer token may send at most {api.settings.max_anonymous_request_bytes}"
        in (error["message"])
    )
    assert await event_count(api.db) == before


async def test_a_large_body_streamed_without_a_length_is_cut_off_at_the_anonymous_limit(api: Api) -> None:
    body = ingestion_body(300)

    async def pieces() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 8192):
            yield body[start : start + 8192]

    response = await api.client.post("/graphql", content=pieces(), headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"


async def test_a_signed_in_client_may_send_a_large_batch(api: Api) -> None:
    service = await api.key("acme", Role.SERVICE)
    before = await event_count(api.db)
    headers = {"content-type": "application/json", "authorization": f"Bearer {service.jwt}"}
    response = await api.client.post("/graphql", content=ingestion_body(300), headers=headers)
    assert response.status_code == 200
    assert len(response.json()["data"]["auditTrailRecordEvents"]) == 300
    assert await event_count(api.db) == before + 300
