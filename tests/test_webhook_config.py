"""Setting up the webhook: verify-on-save, the audited payload, what the query shows, what is refused."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac

import orjson
import pytest
from redis.asyncio import Redis
from sqlalchemy import text

from api.models import Role
from tests.helpers import Api
from tests.receivers import (
    SET_WEBHOOK,
    WEBHOOK_QUERY,
    WEBHOOK_SECRET,
    Receiver,
    Reply,
    running_receiver,
    unused_port,
    webhook_input,
)

EVERY_DELIVERY_HEADER = (
    "Content-Type",
    "User-Agent",
    "X-Signature",
    "X-Signature-256",
    "X-Audit-Event-Id",
    "X-Audit-Delivery-Id",
    "X-Audit-Attempt",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
)


async def count_rows(api: Api, table: str, where: str = "true") -> int:
    async with api.db.transaction() as session:
        return int((await session.execute(text(f"SELECT count(*) FROM {table} WHERE {where}"))).scalar_one())


WEBHOOK_EVENTS = "action LIKE 'audit_trail_webhook.%'"


async def test_set_webhook_sends_its_own_signed_payload_before_saving(api: Api, receiver: Receiver) -> None:
    admin = await api.key("acme", Role.ADMIN)
    headers = {"entries": [{"key": "X-Team", "value": "team-token-123"}]}
    result = await api.gql(SET_WEBHOOK, {"input": webhook_input(receiver.url, customHeaders=headers)}, token=admin.jwt)
    saved = result.ok()["auditTrailSetWebhook"]
    assert saved["enabled"] is True and saved["endpoint"] == receiver.url
    assert saved["secretSHA"] == hashlib.sha256(WEBHOOK_SECRET.encode()).hexdigest()
    assert saved["lastSuccessAt"] is not None and saved["consecutiveFailures"] == 0

    [request] = receiver.requests
    payload = orjson.loads(request.body)
    assert list(payload) == ["account", "action", "actor", "context", "data", "remoteIP", "timestamp"]
    assert payload["account"] == "acme"
    assert payload["action"] == "audit_trail_webhook.set"
    assert payload["actor"] == f"api::{admin.id}"
    assert payload["context"]["mutation"] == "auditTrailSetWebhook"
    assert payload["data"] == {
        "args": {
            "Enabled": True,
            "Endpoint": receiver.url,
            "IncludeRuns": False,
            "SecretSHA": hashlib.sha256(WEBHOOK_SECRET.encode()).hexdigest(),
            "CustomHeaders": {"X-Team": "[REDACTED]"},
            "RetryOnFailure": False,
        }
    }


async def test_every_delivery_header_is_present_and_signatures_match_the_raw_bytes(
    api: Api, receiver: Receiver
) -> None:
    admin = await api.key("acme", Role.ADMIN)
    headers = {"entries": [{"key": "X-Team", "value": "team-token-123"}, {"key": "X-Env", "value": "prod"}]}
    (await api.gql(SET_WEBHOOK, {"input": webhook_input(receiver.url, customHeaders=headers)}, token=admin.jwt)).ok()

    [request] = receiver.requests
    for name in EVERY_DELIVERY_HEADER:
        assert len(request.header_values(name)) == 1, name
    assert request.header("Content-Type") == "application/json"
    assert request.header("User-Agent") == "audittrail/0.1.0"
    assert request.header("X-Team") == "team-token-123" and request.header("X-Env") == "prod"
    assert request.header("X-Audit-Attempt") == "1"

    key, body = WEBHOOK_SECRET.encode(), request.body
    assert request.header("X-Signature") == "sha1=" + hmac.new(key, body, hashlib.sha1).hexdigest()
    assert request.header("X-Signature-256") == "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
    signed = f"{request.header('webhook-id')}.{request.header('webhook-timestamp')}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert request.header("webhook-signature") == f"v1,{expected}"

    async with api.db.transaction() as session:
        stored = (
            await session.execute(text("SELECT id, body FROM audit_events WHERE action = 'audit_trail_webhook.set'"))
        ).one()
    assert body == stored.body.encode()
    assert request.header("X-Audit-Event-Id") == stored.id


async def test_the_verified_delivery_is_recorded_delivered_and_not_queued_again(api: Api, receiver: Receiver) -> None:
    admin = await api.key("acme", Role.ADMIN)
    (await api.gql(SET_WEBHOOK, {"input": webhook_input(receiver.url)}, token=admin.jwt)).ok()

    webhook = (await api.gql(WEBHOOK_QUERY, token=admin.jwt)).ok()["auditTrailWebhook"]
    [edge] = webhook["deliveries"]["edges"]
    assert edge["node"]["action"] == "audit_trail_webhook.set"
    assert edge["node"]["status"] == "DELIVERED"
    assert edge["node"]["attempts"] == 1 and edge["node"]["lastStatusCode"] == 200
    assert edge["node"]["id"] == receiver.requests[0].header("X-Audit-Delivery-Id")
    redis = Redis.from_url(api.settings.redis_url or "")
    try:
        assert await redis.zcard("arq:queue") == 0
    finally:
        await redis.aclose()


FAILING_ENDPOINTS = {
    "500": (Reply(status=500), "HTTP 500"),
    "404": (Reply(status=404), "HTTP 404"),
    "timeout": (Reply(delay_seconds=6.0), "timed out"),
}


@pytest.mark.parametrize("failure", ["500", "404", "timeout", "connection refused"])
async def test_failed_verification_saves_nothing(api: Api, failure: str) -> None:
    admin = await api.key("acme", Role.ADMIN)
    if failure == "connection refused":
        result = await api.gql(
            SET_WEBHOOK, {"input": webhook_input(f"http://127.0.0.1:{unused_port()}/hook")}, token=admin.jwt
        )
        expected_in_message = "ConnectError"
    else:
        reply, expected_in_message = FAILING_ENDPOINTS[failure]
        async with running_receiver(default=reply) as failing:
            result = await api.gql(SET_WEBHOOK, {"input": webhook_input(failing.url)}, token=admin.jwt)
            assert len(failing.requests) == 1
    assert result.codes == ["WEBHOOK_VERIFICATION_FAILED"]
    assert expected_in_message in result.errors[0]["message"]
    assert WEBHOOK_SECRET not in str(result.json)
    assert (await api.gql(WEBHOOK_QUERY, token=admin.jwt)).ok()["auditTrailWebhook"] is None
    assert await count_rows(api, "webhooks") == 0
    assert await count_rows(api, "webhook_deliveries") == 0
    assert await count_rows(api, "audit_events", WEBHOOK_EVENTS) == 0


async def test_a_refused_signature_says_what_the_receiver_answered_and_that_the_secret_differs(api: Api) -> None:
    admin = await api.key("acme", Role.ADMIN)
    refusal = Reply(status=401, body=b'{"error":\n  "invalid signature for X-Signature-256"}')
    async with running_receiver(default=refusal) as receiver:
        result = await api.gql(SET_WEBHOOK, {"input": webhook_input(receiver.url)}, token=admin.jwt)

    assert result.codes == ["WEBHOOK_VERIFICATION_FAILED"]
    message = result.errors[0]["message"]
    assert """answered HTTP 401 with '{"error": "invalid signature for X-Signature-256"}'""" in message
    assert "when its secret differs from the one given here" in message
    assert WEBHOOK_SECRET not in message


async def test_a_server_error_on_verification_gets_no_secret_hint(api: Api) -> None:
    admin = await api.key("acme", Role.ADMIN)
    async with running_receiver(default=Reply(status=500, body=b"")) as receiver:
        result = await api.gql(SET_WEBHOOK, {"input": webhook_input(receiver.url)}, token=admin.jwt)

    message = result.errors[0]["message"]
    assert "answered HTTP 500; the endpoint must answer" in message
    assert "secret" not in message


async def test_failed_verification_of_an_update_keeps_the_previous_webhook(api: Api, receiver: Receiver) -> None:
    admin = await api.key("acme", Role.ADMIN)
    (await api.gql(SET_WEBHOOK, {"input": webhook_input(receiver.url)}, token=admin.jwt)).ok()
    before = (await api.gql(WEBHOOK_QUERY, token=admin.jwt)).ok()["auditTrailWebhook"]
    async with running_receiver(default=Reply(status=503)) as failing:
        result = await api.gql(
            SET_WEBHOOK, {"input": webhook_input(failing.url, secret="another-secret")}, token=admin.jwt
        )
    assert result.codes == ["WEBHOOK_VERIFICATION_FAILED"]
    after = (await api.gql(WEBHOOK_QUERY, token=admin.jwt)).ok()["auditTrailWebhook"]
    assert after == before
    assert await count_rows(api, "audit_events", WEBHOOK_EVENTS) == 1


async def test_a_disabled_webhook_is_saved_without_verification(api: Api, receiver: Receiver) -> None:
    admin = await api.key("acme", Role.ADMIN)
    saved = await api.gql(
        SET_WEBHOOK, {"input": webhook_input(f"http://127.0.0.1:{unused_port()}/", enabled=False)}, token=admin.jwt
    )
    assert saved.ok()["auditTrailSetWebhook"]["enabled"] is False
    assert await count_rows(api, "webhook_deliveries") == 0


@pytest.mark.parametrize("secret", ["omitted", None, ""])
async def test_a_webhook_created_without_a_secret_is_unsigned(api: Api, receiver: Receiver, secret: object) -> None:
    """Spacelift's form marks the secret optional; as GitHub does, unsigned deliveries carry no signature."""
    admin = await api.key("acme", Role.ADMIN)
    wanted: dict[str, object] = {"enabled": True, "endpoint": receiver.url}
    if secret != "omitted":
        wanted["secret"] = secret
    saved = await api.gql(
        SET_WEBHOOK.replace("secretSHA", "secretSHA secret signed"), {"input": wanted}, token=admin.jwt
    )
    webhook = saved.ok()["auditTrailSetWebhook"]
    assert (webhook["signed"], webhook["secretSHA"], webhook["secret"]) == (False, "", "")
    [verified] = receiver.requests  # the verify-on-save payload, unsigned like every delivery of this webhook
    names = {name.lower() for name, _ in verified.headers}
    assert not names & {"x-signature", "x-signature-256", "webhook-signature"}
    assert {"webhook-id", "webhook-timestamp", "x-audit-event-id"} <= names


async def test_empty_or_missing_secret_on_update_keeps_the_stored_secret(api: Api, receiver: Receiver) -> None:
    admin = await api.key("acme", Role.ADMIN)
    (await api.gql(SET_WEBHOOK, {"input": webhook_input(receiver.url)}, token=admin.jwt)).ok()
    async with running_receiver() as second:
        empty = await api.gql(SET_WEBHOOK, {"input": webhook_input(second.url, secret="")}, token=admin.jwt)
        missing = await api.gql(
            SET_WEBHOOK, {"input": {"enabled": True, "endpoint": second.url, "includeRuns": True}}, token=admin.jwt
        )
    assert empty.ok()["auditTrailSetWebhook"]["secretSHA"] == hashlib.sha256(WEBHOOK_SECRET.encode()).hexdigest()
    assert missing.ok()["auditTrailSetWebhook"]["includeRuns"] is True
    for request in second.requests:
        expected = "sha256=" + hmac.new(WEBHOOK_SECRET.encode(), request.body, hashlib.sha256).hexdigest()
        assert request.header("X-Signature-256") == expected
        assert "SecretSHA" not in orjson.loads(request.body)["data"]["args"]


async def test_query_shows_header_names_and_secret_sha_never_values(api: Api, receiver: Receiver) -> None:
    admin = await api.key("acme", Role.ADMIN)
    headers = {"entries": [{"key": "Authorization", "value": "Bearer header-secret-value"}]}
    set_result = await api.gql(
        SET_WEBHOOK, {"input": webhook_input(receiver.url, customHeaders=headers)}, token=admin.jwt
    )
    query_result = await api.gql(WEBHOOK_QUERY, token=admin.jwt)
    assert query_result.ok()["auditTrailWebhook"]["customHeaderNames"] == ["Authorization"]
    for result in (set_result, query_result):
        assert WEBHOOK_SECRET not in str(result.json)
        assert "header-secret-value" not in str(result.json)
    async with api.db.transaction() as session:
        stored = (await session.execute(text("SELECT * FROM webhooks"))).one()
    assert WEBHOOK_SECRET not in str(stored) and "header-secret-value" not in str(stored)


async def test_updating_custom_headers_replaces_them_and_missing_keeps_them(api: Api, receiver: Receiver) -> None:
    admin = await api.key("acme", Role.ADMIN)
    first = {"entries": [{"key": "X-One", "value": "1"}]}
    (await api.gql(SET_WEBHOOK, {"input": webhook_input(receiver.url, customHeaders=first)}, token=admin.jwt)).ok()
    kept = await api.gql(SET_WEBHOOK, {"input": webhook_input(receiver.url)}, token=admin.jwt)
    assert kept.ok()["auditTrailSetWebhook"]["customHeaderNames"] == ["X-One"]
    assert receiver.requests[-1].header("X-One") == "1"
    cleared = await api.gql(
        SET_WEBHOOK, {"input": webhook_input(receiver.url, customHeaders={"entries": []})}, token=admin.jwt
    )
    assert cleared.ok()["auditTrailSetWebhook"]["customHeaderNames"] == []
    assert receiver.requests[-1].header("X-One") is None


async def test_only_admins_configure_or_read_the_webhook(api: Api, receiver: Receiver) -> None:
    reader = await api.key("acme", Role.READER)
    service = await api.key("acme", Role.SERVICE)
    for key in (reader, service):
        assert (await api.gql(SET_WEBHOOK, {"input": webhook_input(receiver.url)}, token=key.jwt)).codes == [
            "FORBIDDEN"
        ]
        assert (await api.gql(WEBHOOK_QUERY, token=key.jwt)).codes == ["FORBIDDEN"]
    assert receiver.requests == []


async def test_each_account_sees_only_its_own_webhook(api: Api, receiver: Receiver) -> None:
    acme = await api.key("acme", Role.ADMIN)
    globex = await api.key("globex", Role.ADMIN)
    (await api.gql(SET_WEBHOOK, {"input": webhook_input(receiver.url)}, token=acme.jwt)).ok()
    assert (await api.gql(WEBHOOK_QUERY, token=globex.jwt)).ok()["auditTrailWebhook"] is None


async def test_a_slow_verify_on_save_does_not_hold_up_the_rest_of_the_account(api: Api) -> None:
    """Verify-on-save keeps its transaction open while the endpoint answers; only webhook changes wait."""
    admin = await api.key("acme", Role.ADMIN)
    async with running_receiver(default=Reply(delay_seconds=1.5)) as slow:
        saving = asyncio.create_task(api.gql(SET_WEBHOOK, {"input": webhook_input(slow.url)}, token=admin.jwt))
        await slow.wait_for(1)  # the verification request is in flight, its transaction open
        created = await api.gql(
            'mutation { apiKeyCreate(input: {name: "meanwhile", role: READER}) { id } }', token=admin.jwt
        )
        retention = await api.gql("mutation { auditTrailSetRetention(days: 9) { retentionDays } }", token=admin.jwt)
        assert not saving.done(), "the key and the retention change did not wait for the endpoint"
        assert created.ok() and retention.ok()
        (await saving).ok()
