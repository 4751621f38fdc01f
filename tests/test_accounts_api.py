"""Key exchange, tokens, roles and the token -> account path."""

from __future__ import annotations

import time

import jwt as pyjwt

from api.models import Role
from tests.conftest import TEST_SECRET_KEY
from tests.helpers import Api

VIEWER = "{ viewer { id role account { name retentionDays } } }"


async def test_key_exchange_returns_a_token_that_names_the_account(api: Api) -> None:
    key = await api.key("acme", Role.READER)
    data = (await api.gql(VIEWER, token=key.jwt)).ok()
    assert data["viewer"] == {
        "id": key.id,
        "role": "READER",
        "account": {"name": "acme", "retentionDays": 30},
    }


async def test_key_exchange_reports_valid_until_in_unix_seconds(api: Api) -> None:
    key = await api.key(login=False)
    result = await api.gql(
        "mutation($id: ID!, $s: String!) { apiKeyUser(id: $id, secret: $s) { id name validUntil } }",
        {"id": key.id, "s": key.secret},
    )
    user = result.ok()["apiKeyUser"]
    assert user["id"] == key.id
    assert abs(user["validUntil"] - (time.time() + api.settings.jwt_lifetime_seconds)) < 5


async def test_wrong_secret_is_unauthenticated(api: Api) -> None:
    key = await api.key(login=False)
    result = await api.gql('mutation($id: ID!) { apiKeyUser(id: $id, secret: "nope") { jwt } }', {"id": key.id})
    assert result.codes == ["UNAUTHENTICATED"]
    assert key.secret not in str(result.json)


async def test_unknown_key_is_unauthenticated(api: Api) -> None:
    result = await api.gql('mutation { apiKeyUser(id: "01ARZ3NDEKTSV4RRFFQ69G5FAV", secret: "x") { jwt } }')
    assert result.codes == ["UNAUTHENTICATED"]


async def test_revoked_key_cannot_log_in_and_its_tokens_stop_working(api: Api) -> None:
    admin = await api.key("acme", Role.ADMIN)
    reader = await api.key("acme", Role.READER)
    revoked = await api.gql(
        "mutation($id: ID!) { apiKeyDelete(id: $id) { id revokedAt } }", {"id": reader.id}, token=admin.jwt
    )
    assert revoked.ok()["apiKeyDelete"]["revokedAt"] is not None
    assert (await api.gql(VIEWER, token=reader.jwt)).codes == ["UNAUTHENTICATED"]
    again = await api.gql(
        "mutation($id: ID!, $s: String!) { apiKeyUser(id: $id, secret: $s) { jwt } }",
        {"id": reader.id, "s": reader.secret},
    )
    assert again.codes == ["UNAUTHENTICATED"]


async def test_missing_expired_and_forged_tokens_are_unauthenticated(api: Api) -> None:
    key = await api.key()
    claims = pyjwt.decode(key.jwt, TEST_SECRET_KEY, algorithms=["HS256"], options={"verify_aud": False})
    expired = pyjwt.encode({**claims, "exp": int(time.time()) - 10}, TEST_SECRET_KEY, algorithm="HS256")
    forged = pyjwt.encode(claims, "not-the-service-key-though-as-long-as-one", algorithm="HS256")
    assert (await api.gql(VIEWER)).codes == ["UNAUTHENTICATED"]
    assert (await api.gql(VIEWER, token=expired)).codes == ["UNAUTHENTICATED"]
    assert (await api.gql(VIEWER, token=forged)).codes == ["UNAUTHENTICATED"]
    assert (await api.gql(VIEWER, token="garbage")).codes == ["UNAUTHENTICATED"]


async def test_a_token_cannot_claim_another_account(api: Api) -> None:
    mine = await api.key("acme")
    other_account = await api.account("globex")
    claims = pyjwt.decode(mine.jwt, TEST_SECRET_KEY, algorithms=["HS256"], options={"verify_aud": False})
    tampered = pyjwt.encode({**claims, "acc": other_account}, "a-wrong-key-of-a-recommended-length", algorithm="HS256")
    assert (await api.gql(VIEWER, token=tampered)).codes == ["UNAUTHENTICATED"]


async def test_reader_cannot_manage_keys(api: Api) -> None:
    reader = await api.key("acme", Role.READER)
    listed = await api.gql("{ apiKeys { id } }", token=reader.jwt)
    created = await api.gql(
        'mutation { apiKeyCreate(input: {name: "x", role: ADMIN}) { id secret } }', token=reader.jwt
    )
    assert listed.codes == ["FORBIDDEN"]
    assert created.codes == ["FORBIDDEN"]


async def test_admin_creates_a_key_whose_secret_is_shown_once(api: Api) -> None:
    admin = await api.key("acme")
    created = (
        await api.gql(
            'mutation { apiKeyCreate(input: {name: "ci", role: SERVICE}) { id name role secret } }',
            token=admin.jwt,
        )
    ).ok()["apiKeyCreate"]
    assert created["role"] == "SERVICE" and len(created["secret"]) >= 40
    listed = await api.gql("{ apiKeys { id name role } }", token=admin.jwt)
    assert {"id": created["id"], "name": "ci", "role": "SERVICE"} in listed.ok()["apiKeys"]
    assert created["secret"] not in str(listed.json)
    assert await api.login(created["id"], created["secret"])


async def test_one_account_sees_only_its_own_keys(api: Api) -> None:
    acme = await api.key("acme")
    globex = await api.key("globex")
    acme_keys = {k["id"] for k in (await api.gql("{ apiKeys { id } }", token=acme.jwt)).ok()["apiKeys"]}
    assert globex.id not in acme_keys and acme.id in acme_keys
    foreign_delete = await api.gql(
        "mutation($id: ID!) { apiKeyDelete(id: $id) { id } }", {"id": globex.id}, token=acme.jwt
    )
    assert foreign_delete.codes == ["NOT_FOUND"]
    viewer = (await api.gql(VIEWER, token=globex.jwt)).ok()["viewer"]
    assert viewer["account"]["name"] == "globex"


async def test_validation_errors_carry_a_code(api: Api) -> None:
    result = await api.gql("{ viewer { nope } }")
    assert result.codes == ["GRAPHQL_VALIDATION_FAILED"]


async def test_health_and_readiness(api: Api) -> None:
    health = await api.client.get("/healthz")
    ready = await api.client.get("/readyz")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "redis": "ok"}


async def test_the_last_admin_key_cannot_be_revoked_through_the_api(api: Api) -> None:
    first = await api.key("acme", Role.ADMIN)
    revoke = "mutation($id: ID!) { apiKeyDelete(id: $id) { id revokedAt } }"
    refused = await api.gql(revoke, {"id": first.id}, token=first.jwt)
    assert refused.codes == ["CONFLICT"]
    assert "last ADMIN key; create another ADMIN key first" in refused.errors[0]["message"]
    assert (await api.gql("{ viewer { id } }", token=first.jwt)).ok()  # still live, nothing half-done

    second = await api.key("acme", Role.ADMIN)
    assert (await api.gql(revoke, {"id": first.id}, token=second.jwt)).ok()["apiKeyDelete"]["revokedAt"]
    assert (await api.gql(revoke, {"id": second.id}, token=second.jwt)).codes == ["CONFLICT"]


async def test_an_oversized_id_is_not_echoed_back(api: Api) -> None:
    admin = await api.key("acme", Role.ADMIN)
    huge = "K" * 7_000_000
    for document in (
        "mutation($id: ID!) { apiKeyDelete(id: $id) { id } }",
        "mutation($id: ID!) { auditTrailRedeliver(id: $id) { id } }",
    ):
        result = await api.gql(document, {"id": huge}, token=admin.jwt)
        assert result.codes == ["NOT_FOUND"]
        message = result.errors[0]["message"]
        assert len(message) < 200 and "of 7000000 characters (ids have 26)" in message
