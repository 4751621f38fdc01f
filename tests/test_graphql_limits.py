"""Limits and error shapes of the GraphQL endpoint: clear errors, never a stack trace."""

from __future__ import annotations

from typing import Any

import strawberry

from api.graphql.errors import ErrorCodes
from api.graphql.schema import build_schema
from api.models import Role
from api.settings import Settings
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


async def test_document_over_100kb_is_a_graphql_error_with_status_200(api: Api) -> None:
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
