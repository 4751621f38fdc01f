"""Audited mutations: exactly one event with the documented payload, nothing on failure, no secrets."""

from __future__ import annotations

import json
import re
import time

import httpx
from sqlalchemy import text

from api.app import create_app
from api.models import Role
from tests.helpers import Api
from tests.support.polling import poll
from tests.test_audit_support import ENTRY_FIELDS, event_count

CREATE_KEY = 'mutation { apiKeyCreate(input: {name: "ci", role: SERVICE}) { id secret } }'
SET_RETENTION = "mutation($days: Int!) { auditTrailSetRetention(days: $days) { name retentionDays } }"


async def stored_rows_text(api: Api) -> str:
    async with api.db.transaction() as session:
        return str((await session.execute(text("SELECT string_agg(e::text, E'\\n') FROM audit_events e"))).scalar())


async def test_audited_mutation_writes_one_event_with_the_documented_payload(api: Api) -> None:
    admin = await api.key("acme", Role.ADMIN)
    before = await event_count(api.db)
    started_ms = time.time() * 1000
    created = (
        await api.gql(CREATE_KEY, token=admin.jwt, headers={"User-Agent": "spacectl/1.0", "X-Request-Id": "req-1"})
    ).ok()["apiKeyCreate"]

    assert await event_count(api.db) == before + 1
    search = await api.gql(
        "query($input: SearchInput!) { searchAuditTrailEntries(input: $input) { edges { node {"
        + ENTRY_FIELDS
        + "} } } }",
        {"input": {"predicates": [{"field": "action", "constraint": {"stringMatches": ["api_key.create"]}}]}},
        token=admin.jwt,
    )
    [edge] = search.ok()["searchAuditTrailEntries"]["edges"]
    entry = edge["node"]
    body = json.loads(entry["body"])
    assert list(body) == ["account", "action", "actor", "context", "data", "remoteIP", "timestamp"]
    assert body["account"] == "acme"
    assert body["action"] == "api_key.create"
    assert body["actor"] == f"api::{admin.id}"
    assert body["context"] == {"mutation": "apiKeyCreate", "requestId": "req-1", "userAgent": "spacectl/1.0"}
    assert body["data"] == {"args": {"Name": "ci", "Role": "SERVICE"}}
    assert body["remoteIP"] == "127.0.0.1"
    assert isinstance(body["timestamp"], int) and started_ms - 1000 <= body["timestamp"] <= time.time() * 1000
    assert entry["body"] == json.dumps(body, separators=(",", ":"))  # compact, as sent
    assert entry["actor"] == {
        "username": f"api::{admin.id}",
        "source": "api",
        "identity": admin.id,
        "run": None,
    }
    assert entry["affectedResource"] == {"resourceType": "API_KEY", "resourceId": created["id"]}
    assert entry["eventType"] == "CREATE"
    assert entry["data"] == body["data"] and entry["context"] == body["context"]
    assert entry["remoteIP"] == "127.0.0.1"
    assert entry["timestamp"] == body["timestamp"]
    assert entry["createdAt"] == entry["updatedAt"] == body["timestamp"] // 1000


async def test_a_failing_mutation_records_nothing(api: Api) -> None:
    admin = await api.key("acme", Role.ADMIN)
    before = await event_count(api.db)
    missing = await api.gql('mutation { apiKeyDelete(id: "01ARZ3NDEKTSV4RRFFQ69G5FAV") { id } }', token=admin.jwt)
    out_of_range = await api.gql(SET_RETENTION, {"days": 0}, token=admin.jwt)
    assert missing.codes == ["NOT_FOUND"]
    assert out_of_range.codes == ["BAD_USER_INPUT"]
    assert "between 1 and 3650" in out_of_range.errors[0]["message"]
    assert await event_count(api.db) == before


async def test_secrets_appear_nowhere_in_the_stored_events(api: Api, worker: None) -> None:
    admin = await api.key("acme", Role.ADMIN)
    created = (await api.gql(CREATE_KEY, token=admin.jwt)).ok()["apiKeyCreate"]
    await api.login(created["id"], created["secret"])
    failed = await api.gql(
        'mutation($id: ID!) { apiKeyUser(id: $id, secret: "wrong-secret-value") { jwt } }', {"id": created["id"]}
    )
    assert failed.codes == ["UNAUTHENTICATED"]

    async def failure_recorded() -> bool:
        return "api_key.login_failed" in await stored_rows_text(api)

    await poll(failure_recorded, what="the failed login's event, recorded by the worker")
    rows = await stored_rows_text(api)
    assert "api_key.login" in rows
    for secret in (admin.secret, created["secret"], "wrong-secret-value", admin.jwt):
        assert secret not in rows


async def test_set_retention_is_audited_and_admin_only(api: Api) -> None:
    admin = await api.key("acme", Role.ADMIN)
    reader = await api.key("acme", Role.READER)
    changed = (await api.gql(SET_RETENTION, {"days": 90}, token=admin.jwt)).ok()["auditTrailSetRetention"]
    refused = await api.gql(SET_RETENTION, {"days": 5}, token=reader.jwt)
    viewer = (await api.gql("{ viewer { account { retentionDays } } }", token=reader.jwt)).ok()

    assert changed == {"name": "acme", "retentionDays": 90}
    assert refused.codes == ["FORBIDDEN"]
    assert viewer["viewer"]["account"]["retentionDays"] == 90
    rows = await stored_rows_text(api)
    assert rows.count("account.set_retention") == 2  # the action column and the body of the one event


async def remote_ips(api: Api) -> list[str | None]:
    async with api.db.transaction() as session:
        rows = await session.execute(text("SELECT remote_ip FROM audit_events ORDER BY created_at, id"))
        return [row[0] for row in rows]


async def test_forwarded_for_counts_only_from_trusted_proxies(api: Api) -> None:
    key = await api.key("acme", login=False)
    login = "mutation($id: ID!, $s: String!) { apiKeyUser(id: $id, secret: $s) { jwt } }"
    forged = {"X-Forwarded-For": "198.51.100.9"}
    (await api.gql(login, {"id": key.id, "s": key.secret}, headers=forged)).ok()

    behind_proxy = create_app(api.settings.model_copy(update={"trusted_proxies": ["127.0.0.0/8", "10.0.0.0/8"]}))
    async with behind_proxy.router.lifespan_context(behind_proxy):
        transport = httpx.ASGITransport(app=behind_proxy, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://audittrail.test") as client:
            response = await client.post(
                "/graphql",
                json={"query": login, "variables": {"id": key.id, "s": key.secret}},
                headers={"X-Forwarded-For": "198.51.100.9, 203.0.113.7, 10.1.2.3"},
            )
            assert response.json()["data"]["apiKeyUser"]["jwt"]

    # Untrusted peer: the header is ignored.  Trusted chain: the nearest address not ours is the client.
    assert await remote_ips(api) == ["127.0.0.1", "203.0.113.7"]


async def test_a_request_without_an_id_gets_a_fresh_ulid_of_its_own(api: Api) -> None:
    """The id an audited mutation records (and an internal error names) when the client sent none or
    an empty one; a long one is cut to 64 characters."""
    admin = await api.key("acme", Role.ADMIN)
    for headers in ({}, {}, {"X-Request-Id": ""}, {"X-Request-Id": "r" * 65 + "-cut"}):
        (await api.gql(CREATE_KEY, token=admin.jwt, headers=headers)).ok()
    recorded = text(
        "SELECT context->>'requestId' FROM audit_events WHERE action = 'api_key.create' AND account_id = :account"
        " ORDER BY id"
    )
    async with api.db.transaction() as session:
        *request_ids, cut = (await session.execute(recorded, {"account": admin.account_id})).scalars().all()
    assert len(set(request_ids)) == 3
    assert all(re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{26}", request_id) for request_id in request_ids), request_ids
    assert cut == "r" * 64
