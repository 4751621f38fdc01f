"""A POST of one JSON document is answered by ``GraphQLApp`` itself (``json_posts``), everything else by
strawberry's view.  Each request here is sent twice through the whole app, once as served and once
with strawberry's own ``GraphQL.__call__`` in its place: status, headers and body must be the same
bytes, for answers, errors, refusals and the requests the view keeps."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import orjson
import pytest
from starlette.requests import ClientDisconnect
from starlette.types import Message, Receive, Scope, Send
from strawberry.asgi import GraphQL

from api.app import GraphQLApp, GraphQLPostsFirst
from api.graphql.json_posts import is_json_post, one_request, replaying, whole_body
from tests.helpers import Api

ENTRY_FIELDS = (
    "id action eventType runStateChange actor { username source identity run { id stackId } }"
    " affectedResource { resourceType resourceId } relatedResource { resourceType resourceId }"
    " body data context remoteIP recordedBy recordedAt externalId createdAt updatedAt timestamp"
)
SEARCH = (
    "query($input: SearchInput!) { searchAuditTrailEntries(input: $input) {"
    f" edges {{ cursor node {{ {ENTRY_FIELDS} }} }} pageInfo {{ endCursor hasNextPage hasPreviousPage }} }} }}"
)
JSON = "application/json"
Sent = tuple[str, bytes, str | None]
"""A request's content type, body and token name (``"admin"``, or None for none)."""


def _json(body: Any) -> bytes:
    return orjson.dumps(body)


REQUESTS: dict[str, Sent] = {
    "viewer": (JSON, _json({"query": "{ viewer { id } }"}), "admin"),
    "viewer, with a charset": ("application/json; charset=utf-8", _json({"query": "{ viewer { id } }"}), "admin"),
    "viewer without a token": (JSON, _json({"query": "{ viewer { id } }"}), None),
    "a page of every field": (JSON, _json({"query": SEARCH, "variables": {"input": {"first": 5}}}), "admin"),
    "filtered, with null extensions": (
        JSON,
        _json(
            {
                "query": SEARCH,
                "variables": {"input": {"predicates": [{"field": "action", "constraint": {"stringMatches": ["x"]}}]}},
                "extensions": None,
            }
        ),
        "admin",
    ),
    "a syntax error": (JSON, _json({"query": "{ viewer { id "}), "admin"),
    "an unknown field": (JSON, _json({"query": "{ viewer { nope } }"}), "admin"),
    "a missing variable": (JSON, _json({"query": SEARCH, "variables": {}}), "admin"),
    "a variable of the wrong type": (JSON, _json({"query": SEARCH, "variables": {"input": {"first": "x"}}}), "admin"),
    "two operations, none named": (JSON, _json({"query": "query a { viewer { id } } query b { __typename }"}), "admin"),
    "two operations, one named": (
        JSON,
        _json({"query": "query a { viewer { id } } query b { __typename }", "operationName": "b"}),
        "admin",
    ),
    "an unknown operation name": (JSON, _json({"query": "{ __typename }", "operationName": "nope"}), "admin"),
    "a subscription": (JSON, _json({"query": "subscription { auditTrailEntries { id } }"}), "admin"),
    "a document over the limit": (JSON, _json({"query": "{ __typename " + " " * 200_000 + "}"}), "admin"),
    "a refused mutation": (
        JSON,
        _json({"query": 'mutation { auditTrailSetWebhook(input: {endpoint: "nope", enabled: false}) { enabled } }'}),
        "admin",
    ),
    # What the view keeps: each refused there, with its own 400.
    "an empty query": (JSON, _json({"query": ""}), "admin"),
    "no query": (JSON, _json({"variables": {}}), "admin"),
    "a query that is a number": (JSON, _json({"query": 5}), "admin"),
    "variables that are a string": (JSON, _json({"query": "{ __typename }", "variables": "x"}), "admin"),
    "extensions that are a list": (JSON, _json({"query": "{ __typename }", "extensions": []}), "admin"),
    "a batch": (JSON, _json([{"query": "{ __typename }"}]), "admin"),
    "a JSON string": (JSON, _json("{ __typename }"), "admin"),
    "not JSON": (JSON, b"{ __typename }", "admin"),
    "not UTF-8": (JSON, b'{"query": "\xff"}', "admin"),
    "text/plain": ("text/plain", _json({"query": "{ __typename }"}), "admin"),
    "application/graphql": ("application/graphql", b"{ __typename }", "admin"),
    "a JSON-like content type": ("application/json-seq", _json({"query": "{ __typename }"}), "admin"),
    "JSON in capitals": ("Application/JSON", _json({"query": "{ __typename }"}), "admin"),
}


@contextmanager
def strawberry_view_only() -> Iterator[None]:
    """``GraphQLApp`` with strawberry's own ``__call__``: every request through the view."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(GraphQLApp, "__call__", GraphQL.__call__)
        yield


async def _send(client: httpx.AsyncClient, sent: Sent, tokens: dict[str, str]) -> tuple[int, list[Any], bytes]:
    content_type, body, token = sent
    headers = {"content-type": content_type, "x-request-id": "same-id"}
    if token is not None:
        headers["authorization"] = f"Bearer {tokens[token]}"
    response = await client.post("/graphql", content=body, headers=headers)
    return response.status_code, sorted(response.headers.multi_items()), response.content


async def test_every_request_is_answered_as_strawberrys_view_answers_it(api: Api) -> None:
    admin = await api.key()  # its login is an audited event: the page has an entry
    tokens = {"admin": admin.jwt}
    viewed_as_served: list[str] = []
    answers = {}
    with pytest.MonkeyPatch.context() as patch:
        parse_http_body = GraphQLApp.parse_http_body

        async def noting(self: GraphQLApp, request: Any) -> Any:
            viewed_as_served.append(name)
            return await parse_http_body(self, request)

        patch.setattr(GraphQLApp, "parse_http_body", noting)
        for name, sent in REQUESTS.items():
            answers[name] = await _send(api.client, sent, tokens)
    # The view read the body of exactly the requests it keeps: from the empty query on.
    assert viewed_as_served == list(REQUESTS)[list(REQUESTS).index("an empty query") :]
    with strawberry_view_only():
        viewed = {name: await _send(api.client, sent, tokens) for name, sent in REQUESTS.items()}
    for name in REQUESTS:
        assert answers[name] == viewed[name], name
    # The requests answered, not only refused alike: data where there should be.
    assert orjson.loads(answers["viewer"][2])["data"]["viewer"]["id"]
    assert orjson.loads(answers["a page of every field"][2])["data"]["searchAuditTrailEntries"]["edges"]
    assert orjson.loads(answers["two operations, one named"][2]) == {"data": {"__typename": "Query"}}
    assert [answers[name][0] for name in ("a batch", "not JSON", "text/plain", "an empty query")] == [400] * 4


async def test_a_body_over_the_limit_is_refused_before_it_is_read_whole(api: Api) -> None:
    """The body limit wraps ``receive``; reading the body here must not get around it."""
    body = _json({"query": "{ __typename }", "variables": {"x": "y" * 100_000}})
    response = await api.client.post("/graphql", content=body, headers={"content-type": JSON})
    assert response.status_code == 413
    chunks = [body[:10], body[10:]]

    async def streamed() -> Any:
        for chunk in chunks:
            yield chunk

    response = await api.client.post("/graphql", content=streamed(), headers={"content-type": JSON})
    assert response.status_code == 413


@pytest.mark.parametrize(
    ("method", "headers", "expected"),
    [
        ("POST", [(b"content-type", b"application/json")], True),
        ("POST", [(b"content-type", b" application/json ; charset=utf-8")], True),
        ("POST", [(b"content-type", b"Application/JSON")], False),
        ("POST", [(b"accept", b"application/json")], False),
        ("POST", [(b"content-type", b"application/jsonx")], False),
        ("POST", [(b"content-type", b"multipart/form-data; boundary=x")], False),
        ("GET", [(b"content-type", b"application/json")], False),
    ],
)
def test_only_a_post_declared_json_is_answered_apart(method: str, headers: list[Any], expected: bool) -> None:
    assert is_json_post({"type": "http", "method": method, "headers": headers}) is expected
    assert not is_json_post({"type": "websocket", "headers": headers})


def test_only_one_plain_operation_is_answered_apart() -> None:
    request = one_request({"query": "{ a }", "variables": {"x": 1}, "operationName": "a", "extensions": {}})
    assert request is not None
    assert (request.query, request.variables, request.operation_name, request.extensions, request.protocol) == (
        "{ a }", {"x": 1}, "a", {}, "http",
    )  # fmt: skip
    for refused in ([{"query": "{ a }"}], "{ a }", {"query": ""}, {"query": None}, {"query": "{ a }", "variables": []}):
        assert one_request(refused) is None, refused


async def test_a_body_in_chunks_is_read_whole_and_handed_over_again() -> None:
    messages: list[Message] = [
        {"type": "http.request", "body": b'{"query"', "more_body": True},
        {"type": "http.request", "body": b': "{ a }"}', "more_body": False},
        {"type": "http.disconnect"},
    ]

    async def receive() -> Message:
        return messages.pop(0)

    body = await whole_body(receive)
    assert body == b'{"query": "{ a }"}'
    again = replaying(body, receive)
    assert await again() == {"type": "http.request", "body": body, "more_body": False}
    assert await again() == {"type": "http.disconnect"}


async def test_a_client_gone_midway_is_a_disconnect_as_in_starlette() -> None:
    messages: list[Message] = [{"type": "http.request", "body": b"{", "more_body": True}, {"type": "http.disconnect"}]

    async def receive() -> Message:
        return messages.pop(0)

    with pytest.raises(ClientDisconnect):
        await whole_body(receive)


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("POST", "/graphql", 200),
        ("PUT", "/graphql", 405),
        ("POST", "/healthz", 405),
        ("GET", "/healthz", 200),
        ("POST", "/graphql/", 307),
    ],
)
async def test_only_a_post_to_graphql_skips_the_router(api: Api, method: str, path: str, status: int) -> None:
    """``GraphQLPostsFirst`` takes POST /graphql alone; the router still answers every other method and path."""

    async def through_the_router(self: GraphQLPostsFirst, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)

    body = {"query": "{ __typename }"}
    response = await api.client.request(method, path, json=body, follow_redirects=False)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(GraphQLPostsFirst, "__call__", through_the_router)
        routed = await api.client.request(method, path, json=body, follow_redirects=False)
    assert (response.status_code, response.content) == (routed.status_code, routed.content)
    assert response.status_code == status
