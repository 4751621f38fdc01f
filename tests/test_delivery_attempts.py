"""Every attempt of a delivery is kept and shown: what was sent (custom header values redacted) and what came back."""

from __future__ import annotations

import orjson

from api.audit.record import EventDraft, now_ms, record_events
from api.models import EventType, Role
from tests.helpers import Api, Key
from tests.receivers import SET_WEBHOOK, Receiver, Reply, webhook_input

HEADER_SECRET = "hdr-secret-7c1e9b"
DELIVERY = """query($id: ID!) { auditTrailDelivery(id: $id) { id status attempts
  attemptHistory { attempt recordedAt statusCode error latencyMs requestHeaders { name value }
                   responseHeaders { name value } responseSnippet } } }"""
REDELIVER = "mutation($id: ID!) { auditTrailRedeliver(id: $id) { status attempts } }"


async def owed_delivery(api: Api, key: Key) -> str:
    draft = EventDraft(
        action="stack.updated", event_type=EventType.UPDATE, actor="github::alice", timestamp_ms=now_ms()
    )
    async with api.db.transaction() as session:
        batch = await record_events(
            session, [draft], account_id=key.account_id, account_name=key.account_name, recorded_by=key.id
        )
    [delivery_id] = batch.delivery_ids
    return delivery_id


async def test_each_attempt_is_kept_with_its_request_and_response_headers(api: Api, receiver: Receiver) -> None:
    admin = await api.key("acme", Role.ADMIN)
    webhook = webhook_input(receiver.url, customHeaders={"entries": [{"key": "X-Api-Token", "value": HEADER_SECRET}]})
    (await api.gql(SET_WEBHOOK, {"input": webhook}, token=admin.jwt)).ok()
    delivery_id = await owed_delivery(api, admin)
    # The receiver echoes the secret header in a header and in its body, then fails; then accepts.
    receiver.script = [
        Reply(500, b'{"echo":"' + HEADER_SECRET.encode() + b'"}', headers=(("X-Echo", HEADER_SECRET),)),
        Reply(200, b"ok", headers=(("X-Receiver", "collector\x01"),)),
    ]
    for _ in range(2):
        (await api.gql(REDELIVER, {"id": delivery_id}, token=admin.jwt)).ok()

    response = await api.gql(DELIVERY, {"id": delivery_id}, token=admin.jwt)
    delivery = response.ok()["auditTrailDelivery"]
    assert HEADER_SECRET not in orjson.dumps(response.json).decode()
    assert delivery["status"] == "DELIVERED" and delivery["attempts"] == 2
    failed, delivered = delivery["attemptHistory"]
    assert (failed["attempt"], failed["statusCode"], delivered["attempt"], delivered["statusCode"]) == (1, 500, 2, 200)
    sent = {header["name"].lower(): header["value"] for header in failed["requestHeaders"]}
    assert sent["x-api-token"] == "[REDACTED]"
    assert sent["x-signature-256"].startswith("sha256=") and sent["content-type"] == "application/json"
    answered = {header["name"].lower(): header["value"] for header in failed["responseHeaders"]}
    assert answered["x-echo"] == "[REDACTED]" and "[REDACTED]" in failed["responseSnippet"]
    assert {h["name"].lower(): h["value"] for h in delivered["responseHeaders"]}["x-receiver"] == "collector\x01"
    assert delivered["recordedAt"] >= failed["recordedAt"] > 0 and failed["latencyMs"] >= 0


async def test_an_attempt_without_an_answer_keeps_its_error_and_no_response_headers(
    api: Api, receiver: Receiver
) -> None:
    admin = await api.key("acme", Role.ADMIN)
    (await api.gql(SET_WEBHOOK, {"input": webhook_input(receiver.url)}, token=admin.jwt)).ok()
    delivery_id = await owed_delivery(api, admin)
    await receiver.stop()  # connection refused from now on
    (await api.gql(REDELIVER, {"id": delivery_id}, token=admin.jwt)).ok()
    [attempt] = (await api.gql(DELIVERY, {"id": delivery_id}, token=admin.jwt)).ok()["auditTrailDelivery"][
        "attemptHistory"
    ]
    assert attempt["statusCode"] is None and attempt["responseHeaders"] is None and attempt["error"]
    assert any(header["name"].lower() == "x-signature-256" for header in attempt["requestHeaders"])


async def test_another_account_and_a_reader_cannot_read_a_delivery(api: Api, receiver: Receiver) -> None:
    admin = await api.key("acme", Role.ADMIN)
    (await api.gql(SET_WEBHOOK, {"input": webhook_input(receiver.url)}, token=admin.jwt)).ok()
    delivery_id = await owed_delivery(api, admin)
    other_admin = await api.key("globex", Role.ADMIN)
    reader = await api.key("acme", Role.READER)
    assert (await api.gql(DELIVERY, {"id": delivery_id}, token=other_admin.jwt)).ok() == {"auditTrailDelivery": None}
    assert (await api.gql(DELIVERY, {"id": delivery_id}, token=reader.jwt)).codes == ["FORBIDDEN"]
    assert (await api.gql(DELIVERY, {"id": "x" * 5000}, token=admin.jwt)).ok() == {"auditTrailDelivery": None}
