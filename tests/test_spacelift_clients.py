"""Spacelift's own clients, replayed byte for byte against the real server over HTTP.

The Terraform provider and spacectl build their documents with shurcooL's Go query builder:
minified, fields joined by commas, variables declared sorted by name without separators, no
operation name, ``mutation{...}`` or a bare ``{...}`` without variables.  Go's JSON encoder
writes ``{"query":...,"variables":...}`` plus a newline, leaves ``variables`` out when there are
none, and sends nil pointers as ``null``.  The clients read the token without verifying it and
send every later request to ``<aud>/graphql``; they decode answers strictly (a field they did
not select is an error) and treat any status but 200 as a transport failure.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from api.app import create_app
from api.models import Role
from api.settings import Settings
from tests.helpers import Api, Key
from tests.receivers import WEBHOOK_SECRET, Receiver
from tests.support.live_server import serving
from tests.test_audit_support import draft, seed

# The Terraform provider (spacelift/provider.go, resource_audit_trail_webhook.go).
PROVIDER_LOGIN = "mutation($id:ID!$secret:String!){apiKeyUser(id: $id, secret: $secret){jwt}}"
WEBHOOK_SELECTION = "{enabled,endpoint,includeRuns,secret,retryOnFailure}"
PROVIDER_SET = "mutation($input:AuditTrailWebhookInput!){auditTrailSetWebhook(input: $input)" + WEBHOOK_SELECTION + "}"
PROVIDER_READ = "{auditTrailWebhook" + WEBHOOK_SELECTION + "}"
PROVIDER_DELETE = "mutation{auditTrailDeleteWebhook" + WEBHOOK_SELECTION + "}"
# The provider's newest resource selects the same fields without `secret`.
PROVIDER_READ_WITHOUT_SECRET = "{auditTrailWebhook{enabled,endpoint,includeRuns,retryOnFailure}}"

# spacectl (client/session, cmd/spacectl, internal/cmd/whoami, internal/cmd/audittrail).
SPACECTL_LOGIN = "mutation($id:ID!$secret:String!){apiKeyUser(id: $id, secret: $secret){jwt,validUntil}}"
SPACECTL_DEBUG_INFO = "{debugInfo{selfHostedVersion}}"
SPACECTL_WHOAMI = "{viewer{id,name}}"
SPACECTL_RELOGIN_PROBE = "{viewer{id}}"
SPACECTL_AUDIT_TRAIL_LIST = (
    "query($input:SearchInput!){searchAuditTrailEntries(input: $input){edges{node{id,action,"
    "actor{run{id,stackId},username},affectedResource{resourceId,resourceType},body,eventType,"
    "relatedResource{resourceId,resourceType},createdAt,updatedAt}},pageInfo{endCursor,hasNextPage,hasPreviousPage}}}"
)

SET_HEADERS = (
    "mutation($input:AuditTrailWebhookSetHeadersInput!){auditTrailWebhookSetHeaders(input: $input)"
    "{endpoint,customHeaderNames}}"
)
DELETE_HEADERS = (
    "mutation($input:AuditTrailWebhookDeleteHeadersInput!){auditTrailWebhookDeleteHeaders(input: $input)"
    "{endpoint,customHeaderNames}}"
)
LOGOUT = "mutation{logout{id,login,name,type}}"
RETENTION_DAYS = "{auditTrailRetentionDays}"


def go_body(query: str, variables: dict[str, Any] | None = None) -> bytes:
    """What Go's ``json.Encoder`` writes for ``struct{Query; Variables map[string]any "omitempty"}``."""
    payload: dict[str, Any] = {"query": query}
    if variables:
        payload["variables"] = variables
    return (json.dumps(payload, separators=(",", ":")) + "\n").encode()


def unverified_claims(token: str) -> dict[str, Any]:
    """The JWT's payload read as the clients read it: without checking the signature."""
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return decoded


class GoClient:
    """shurcooL/graphql over HTTP: exact bytes, strict answers, only status 200 is a GraphQL answer."""

    def __init__(self, http: httpx.AsyncClient, endpoint: str, token: str | None = None) -> None:
        self.http = http
        self.url = endpoint.rstrip("/") + "/graphql"
        self.token = token

    async def send(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        response = await self.http.post(self.url, content=go_body(query, variables), headers=headers)
        assert response.status_code == 200, f"non-200 OK status code: {response.status_code} body: {response.text!r}"
        answer: dict[str, Any] = response.json()
        return answer

    async def data(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        answer = await self.send(query, variables)
        assert not answer.get("errors"), answer["errors"]
        data: dict[str, Any] = answer["data"]
        return data

    async def first_error(self, query: str, variables: dict[str, Any] | None = None) -> str:
        """``GraphQLErrors.Error()``: the clients show only the first message."""
        answer = await self.send(query, variables)
        assert answer.get("errors"), answer
        return str(answer["errors"][0]["message"])


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[str]:
    async with serving(create_app(settings)) as url:
        yield url


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client


async def provider_client(http: httpx.AsyncClient, api_key_endpoint: str, key: Key) -> GoClient:
    """``buildClientFromAPIKeyData`` then ``buildClientFromToken``: exchange, read ``aud``, go there."""
    exchange = GoClient(http, api_key_endpoint)
    data = await exchange.data(PROVIDER_LOGIN, {"id": key.id, "secret": key.secret})
    assert list(data["apiKeyUser"]) == ["jwt"]
    token = data["apiKeyUser"]["jwt"]
    audience = unverified_claims(token)["aud"]
    audiences = [audience] if isinstance(audience, str) else audience
    assert len(audiences) == 1, f"invalid audience in token: {audiences}"
    return GoClient(http, audiences[0], token)


def provider_input(endpoint: str, **overrides: Any) -> dict[str, Any]:
    """``structs.AuditTrailWebhookInput`` as the provider fills it: retryOnFailure and customHeaders are
    pointers, sent as null when the configuration leaves them at their defaults."""
    return {
        "input": {
            "enabled": True,
            "endpoint": endpoint,
            "includeRuns": False,
            "secret": WEBHOOK_SECRET,
            "customHeaders": None,
            "retryOnFailure": None,
            **overrides,
        }
    }


async def test_token_audience_is_the_base_url_it_was_issued_at(api: Api, server: str, http: httpx.AsyncClient) -> None:
    key = await api.key("acme", Role.ADMIN, login=False)
    client = await provider_client(http, server + "/", key)
    assert client.url == f"{server}/graphql"
    claims = unverified_claims(client.token or "")
    assert claims["aud"] == server and claims["jti"]
    assert (await client.data(SPACECTL_WHOAMI))["viewer"]["id"] == key.id


async def test_terraform_provider_lifecycle_has_no_diff(
    api: Api, server: str, http: httpx.AsyncClient, receiver: Receiver
) -> None:
    key = await api.key("acme", Role.ADMIN, login=False)
    client = await provider_client(http, server, key)
    expected = {
        "enabled": True,
        "endpoint": receiver.url,
        "includeRuns": False,
        "secret": "",
        "retryOnFailure": False,
    }

    created = await client.data(PROVIDER_SET, provider_input(receiver.url))
    assert created == {"auditTrailSetWebhook": expected}
    assert await client.data(PROVIDER_READ) == {"auditTrailWebhook": expected}
    admin_token = await api.login(key.id, key.secret)
    secret_sha_before = await api.gql("{ auditTrailWebhook { secretSHA } }", token=admin_token)
    # Update: the provider never re-sends the secret (""), and sends null for headers it does not manage.
    updated = await client.data(PROVIDER_SET, provider_input(receiver.url, secret="", includeRuns=True))
    assert updated == {"auditTrailSetWebhook": {**expected, "includeRuns": True}}
    read_back = await client.data(PROVIDER_READ)
    assert read_back == {"auditTrailWebhook": {**expected, "includeRuns": True}}
    assert await client.data(PROVIDER_READ_WITHOUT_SECRET) == {
        "auditTrailWebhook": {"enabled": True, "endpoint": receiver.url, "includeRuns": True, "retryOnFailure": False}
    }
    secret_sha_after = await api.gql("{ auditTrailWebhook { secretSHA } }", token=admin_token)
    assert secret_sha_after.ok() == secret_sha_before.ok()  # "" kept the stored secret
    # Both verify-on-save payloads were signed with the secret the provider created the webhook with.
    assert [request.signature_ok(WEBHOOK_SECRET) for request in receiver.requests] == [True, True]

    deleted = await client.data(PROVIDER_DELETE)
    assert deleted == {"auditTrailDeleteWebhook": {**expected, "includeRuns": True}}
    assert await client.data(PROVIDER_READ) == {"auditTrailWebhook": None}  # the provider drops it from state


async def test_provider_retry_on_failure_true_round_trips(
    api: Api, server: str, http: httpx.AsyncClient, receiver: Receiver
) -> None:
    key = await api.key("acme", Role.ADMIN, login=False)
    client = await provider_client(http, server, key)
    created = await client.data(PROVIDER_SET, provider_input(receiver.url, retryOnFailure=True))
    assert created["auditTrailSetWebhook"]["retryOnFailure"] is True
    assert (await client.data(PROVIDER_READ))["auditTrailWebhook"]["retryOnFailure"] is True


async def test_provider_sees_the_endpoint_rule_it_tests_for(api: Api, server: str, http: httpx.AsyncClient) -> None:
    key = await api.key("acme", Role.ADMIN, login=False)
    client = await provider_client(http, server, key)
    message = await client.first_error(PROVIDER_SET, provider_input("https:/invalidendpoint.com/"))
    assert message.startswith("endpoint must be a valid URL")


async def test_spacectl_start_login_whoami_and_audit_trail_list(api: Api, server: str, http: httpx.AsyncClient) -> None:
    key = await api.key("acme", Role.READER, login=False)
    login = await GoClient(http, server).data(SPACECTL_LOGIN, {"id": key.id, "secret": key.secret})
    user = login["apiKeyUser"]
    assert user["validUntil"] > time.time() + 30  # spacectl exchanges again within 30 s of expiry
    client = GoClient(http, server, user["jwt"])
    assert await client.data(SPACECTL_DEBUG_INFO) == {"debugInfo": {"selfHostedVersion": ""}}
    assert await client.data(SPACECTL_WHOAMI) == {"viewer": {"id": key.id, "name": "reader key"}}

    await seed(api.db, key.account_id, [draft(f"stack.update_{n}") for n in range(120)])
    seen: list[str] = []
    after: str | None = None
    while True:
        variables = {
            "input": {
                "first": 50,
                "after": after,
                "fullTextSearch": None,
                "predicates": None,
                "orderBy": {"field": "createdAt", "direction": "DESC"},
            }
        }
        page = (await client.data(SPACECTL_AUDIT_TRAIL_LIST, variables))["searchAuditTrailEntries"]
        for edge in page["edges"]:
            node = edge["node"]
            assert set(node) == {
                "id", "action", "actor", "affectedResource", "body", "eventType", "relatedResource",
                "createdAt", "updatedAt",
            }  # fmt: skip
            assert isinstance(node["createdAt"], int) and isinstance(node["updatedAt"], int)
            assert node["eventType"] in ("CREATE", "UPDATE", "DELETE")
            seen.append(node["id"])
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(seen) == len(set(seen)) == 121  # the 120 and the key's own login


async def test_spacectl_relogin_hint_needs_unauthorized_in_a_200_answer(
    api: Api, server: str, http: httpx.AsyncClient
) -> None:
    key = await api.key("acme", Role.READER, login=False)
    wrong = await GoClient(http, server).first_error(SPACECTL_LOGIN, {"id": key.id, "secret": "not-it"})
    assert "unauthorized" in wrong
    expired_or_forged = GoClient(http, server, "not.a.token")
    assert "unauthorized" in await expired_or_forged.first_error(SPACECTL_RELOGIN_PROBE)
    assert "unauthorized" in await GoClient(http, server).first_error(SPACECTL_WHOAMI)


async def test_headers_retention_and_logout_as_a_client_sends_them(
    api: Api, server: str, http: httpx.AsyncClient, receiver: Receiver
) -> None:
    key = await api.key("acme", Role.ADMIN, login=False)
    client = await provider_client(http, server, key)
    await client.data(PROVIDER_SET, provider_input(receiver.url))
    entries = [{"key": "X-Collector-Token", "value": "collector-secret-1"}, {"key": "X-Env", "value": "prod"}]
    set_headers = await client.data(SET_HEADERS, {"input": {"entries": entries}})
    assert set_headers["auditTrailWebhookSetHeaders"]["customHeaderNames"] == ["X-Collector-Token", "X-Env"]
    deleted = await client.data(DELETE_HEADERS, {"input": {"keys": ["x-env"]}})
    assert deleted["auditTrailWebhookDeleteHeaders"]["customHeaderNames"] == ["X-Collector-Token"]
    assert await client.data(RETENTION_DAYS) == {"auditTrailRetentionDays": 30}

    logged_out = await client.data(LOGOUT)
    assert logged_out == {"logout": {"id": key.id, "login": key.id, "name": "admin key", "type": "API_KEY"}}
    message = await client.first_error(RETENTION_DAYS)
    assert message.startswith("unauthorized") and "logged out" in message
    again = await provider_client(http, server, key)  # the key itself still works
    assert await again.data(RETENTION_DAYS) == {"auditTrailRetentionDays": 30}
