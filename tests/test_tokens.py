"""Tokens name the API's base URL as their one audience, and logout ends one token, not the key."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import jwt as pyjwt
import pytest
from sqlalchemy import text

from api.app import create_app
from api.models import Role
from api.settings import Settings
from tests.conftest import TEST_SECRET_KEY
from tests.helpers import Api, GraphQLResult
from tests.support.polling import poll

VIEWER = "{ viewer { id } }"


def claims_of(token: str) -> dict[str, object]:
    return dict(pyjwt.decode(token, TEST_SECRET_KEY, algorithms=["HS256"], options={"verify_aud": False}))


@pytest.fixture
async def client_at(settings: Settings) -> AsyncIterator[object]:
    """An in-process client of the app reached at another base URL (another Host)."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50001))
        async with httpx.AsyncClient(transport=transport, base_url="https://other.example:8443") as client:
            yield client


async def gql_at(client: httpx.AsyncClient, query: str, token: str) -> GraphQLResult:
    response = await client.post("/graphql", json={"query": query}, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    return GraphQLResult(response)


async def test_a_token_names_the_base_url_it_was_issued_at(api: Api) -> None:
    key = await api.key("acme", Role.READER)
    claims = claims_of(key.jwt)
    assert claims["aud"] == "http://audittrail.test"
    assert claims["sub"] == key.id and isinstance(claims["jti"], str) and len(claims["jti"]) == 26
    assert claims_of(await api.login(key.id, key.secret))["jti"] != claims["jti"]


async def test_a_token_presented_at_another_base_url_is_refused(api: Api, client_at: httpx.AsyncClient) -> None:
    key = await api.key("acme", Role.READER)
    refused = await gql_at(client_at, VIEWER, key.jwt)
    assert refused.codes == ["UNAUTHENTICATED"]
    message = refused.errors[0]["message"]
    assert message.startswith("unauthorized: this token was issued for another address")
    assert "https://other.example:8443" in message


async def test_the_public_url_setting_is_every_tokens_audience(api: Api, settings: Settings) -> None:
    configured = settings.model_copy(update={"public_url": "https://audit.example.com/"})
    app = create_app(configured)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50002))
        async with httpx.AsyncClient(transport=transport, base_url="http://10.1.2.3:8000") as client:
            key = await api.key("acme", Role.READER, login=False)
            login = "mutation($id: ID!, $s: String!) { apiKeyUser(id: $id, secret: $s) { jwt } }"
            response = await client.post(
                "/graphql", json={"query": login, "variables": {"id": key.id, "s": key.secret}}
            )
            token = response.json()["data"]["apiKeyUser"]["jwt"]
            assert claims_of(token)["aud"] == "https://audit.example.com"
            assert (await gql_at(client, VIEWER, token)).ok()["viewer"]["id"] == key.id


def test_a_public_url_with_a_path_is_refused() -> None:
    with pytest.raises(ValueError, match="public_url"):
        Settings(public_url="https://audit.example.com/graphql")


async def test_a_token_without_audience_or_id_is_refused(api: Api) -> None:
    key = await api.key("acme", Role.READER)
    claims = claims_of(key.jwt)
    for missing in ("aud", "jti"):
        stripped = {name: value for name, value in claims.items() if name != missing}
        forged = pyjwt.encode(stripped, TEST_SECRET_KEY, algorithm="HS256")
        result = await api.gql(VIEWER, token=forged)
        assert result.codes == ["UNAUTHENTICATED"] and result.errors[0]["message"] == "unauthorized: invalid token"


async def test_logout_ends_that_token_only_and_is_audited(api: Api) -> None:
    key = await api.key("acme", Role.SERVICE)
    other_token = await api.login(key.id, key.secret)
    logged_out = await api.gql("mutation { logout { id login name type jwt } }", token=key.jwt)
    assert logged_out.ok()["logout"] == {
        "id": key.id,
        "login": key.id,
        "name": "service key",
        "type": "API_KEY",
        "jwt": "",
    }

    again = await api.gql(VIEWER, token=key.jwt)
    assert again.codes == ["UNAUTHENTICATED"] and "logged out" in again.errors[0]["message"]
    assert (await api.gql(VIEWER, token=other_token)).ok()["viewer"]["id"] == key.id
    assert (await api.gql("mutation { logout { id } }", token=key.jwt)).codes == ["UNAUTHENTICATED"]
    async with api.db.transaction() as session:
        row = (
            await session.execute(
                text(
                    "SELECT event_type, actor, affected_resource_type, affected_resource_id FROM audit_events"
                    " WHERE action = 'account.logout'"
                )
            )
        ).one()
        revoked = (await session.execute(text("SELECT count(*) FROM revoked_tokens"))).scalar_one()
    assert tuple(row) == ("DELETE", f"api::{key.id}", "USER", key.id)
    assert revoked == 1


async def test_logins_are_account_login_on_the_user_and_failures_keep_their_action(api: Api, worker: None) -> None:
    key = await api.key("acme", Role.READER)
    wrong = await api.gql('mutation($id: ID!) { apiKeyUser(id: $id, secret: "wrong") { jwt } }', {"id": key.id})
    assert wrong.codes == ["UNAUTHENTICATED"]
    assert wrong.errors[0]["message"] == "unauthorized: invalid API key id or secret"

    async def audited_rows() -> list[tuple[object, ...]]:
        async with api.db.transaction() as session:
            rows = await session.execute(
                text(
                    "SELECT action, event_type, actor, affected_resource_type, related_resource_type FROM audit_events"
                    " ORDER BY id"
                )
            )
            return [tuple(row) for row in rows]

    async def failure_recorded() -> bool:
        return len(await audited_rows()) == 2

    # The worker records the failure (the request itself writes nothing for it).
    await poll(failure_recorded, what="the failed login's event")
    assert await audited_rows() == [
        ("account.login", "CREATE", f"api::{key.id}", "USER", "API_KEY"),
        ("api_key.login_failed", "CREATE", f"api::{key.id}", "USER", "API_KEY"),
    ]
