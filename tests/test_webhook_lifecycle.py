"""Enable, disable, delete, test and redeliver: each audited, each payload where it belongs."""

from __future__ import annotations

import orjson
from sqlalchemy import text

from api.models import Role
from tests.helpers import Api
from tests.receivers import (
    DELIVERY_FIELDS,
    SET_WEBHOOK,
    WEBHOOK_FIELDS,
    WEBHOOK_QUERY,
    Receiver,
    Reply,
    running_receiver,
    webhook_input,
)

ENABLE = "mutation { auditTrailEnableWebhook {" + WEBHOOK_FIELDS + "} }"
DISABLE = "mutation { auditTrailDisableWebhook {" + WEBHOOK_FIELDS + "} }"
DELETE = "mutation { auditTrailDeleteWebhook {" + WEBHOOK_FIELDS + "} }"
TEST = "mutation { auditTrailTestWebhook {" + DELIVERY_FIELDS + "} }"
REDELIVER = "mutation($id: ID!) { auditTrailRedeliver(id: $id) {" + DELIVERY_FIELDS + "} }"
CREATE_KEY = 'mutation { apiKeyCreate(input: {name: "ci", role: SERVICE}) { id } }'


async def delivery_actions(api: Api) -> list[str]:
    async with api.db.transaction() as session:
        return list((await session.execute(text("SELECT action FROM webhook_deliveries ORDER BY id"))).scalars())


async def test_disable_sends_final_payload_to_old_endpoint(api: Api, receiver: Receiver, worker: None) -> None:
    admin = await api.key("acme", Role.ADMIN)
    (await api.gql(SET_WEBHOOK, {"input": webhook_input(receiver.url)}, token=admin.jwt)).ok()
    disabled = (await api.gql(DISABLE, token=admin.jwt)).ok()["auditTrailDisableWebhook"]
    assert disabled["enabled"] is False

    await receiver.wait_for(2)
    assert receiver.actions() == ["audit_trail_webhook.set", "audit_trail_webhook.disable"]
    (await api.gql(CREATE_KEY, token=admin.jwt)).ok()
    assert "api_key.create" not in await delivery_actions(api)


async def test_delete_sends_empty_data_to_old_endpoint_and_returns_what_was_deleted(
    api: Api, receiver: Receiver, worker: None
) -> None:
    admin = await api.key("acme", Role.ADMIN)
    (await api.gql(SET_WEBHOOK, {"input": webhook_input(receiver.url)}, token=admin.jwt)).ok()
    deleted = (await api.gql(DELETE, token=admin.jwt)).ok()["auditTrailDeleteWebhook"]
    assert deleted["endpoint"] == receiver.url

    [_, delete_request] = await receiver.wait_for(2)
    payload = orjson.loads(delete_request.body)
    assert payload["action"] == "audit_trail_webhook.delete"
    assert payload["data"] == {}
    assert (await api.gql(WEBHOOK_QUERY, token=admin.jwt)).ok()["auditTrailWebhook"] is None
    assert (await api.gql(DELETE, token=admin.jwt)).ok()["auditTrailDeleteWebhook"] is None
    (await api.gql(CREATE_KEY, token=admin.jwt)).ok()
    assert "api_key.create" not in await delivery_actions(api)


async def test_a_new_webhook_can_be_set_after_delete(api: Api, receiver: Receiver) -> None:
    admin = await api.key("acme", Role.ADMIN)
    (await api.gql(SET_WEBHOOK, {"input": webhook_input(receiver.url)}, token=admin.jwt)).ok()
    (await api.gql(DELETE, token=admin.jwt)).ok()
    again = await api.gql(SET_WEBHOOK, {"input": webhook_input(receiver.url, secret="new-secret")}, token=admin.jwt)
    assert again.ok()["auditTrailSetWebhook"]["enabled"] is True
    webhook = (await api.gql(WEBHOOK_QUERY, token=admin.jwt)).ok()["auditTrailWebhook"]
    assert [edge["node"]["action"] for edge in webhook["deliveries"]["edges"]] == ["audit_trail_webhook.set"]


async def test_a_disabled_webhook_gets_no_final_payloads(api: Api, receiver: Receiver) -> None:
    admin = await api.key("acme", Role.ADMIN)
    (await api.gql(SET_WEBHOOK, {"input": webhook_input(receiver.url, enabled=False)}, token=admin.jwt)).ok()
    (await api.gql(DISABLE, token=admin.jwt)).ok()
    (await api.gql(DELETE, token=admin.jwt)).ok()
    assert await delivery_actions(api) == []


async def test_enable_verifies_like_set_and_changes_nothing_on_failure(api: Api) -> None:
    admin = await api.key("acme", Role.ADMIN)
    async with running_receiver(script=[Reply(status=200), Reply(status=500)]) as receiver:
        (await api.gql(SET_WEBHOOK, {"input": webhook_input(receiver.url, enabled=False)}, token=admin.jwt)).ok()
        (await api.gql(SET_WEBHOOK, {"input": webhook_input(receiver.url)}, token=admin.jwt)).ok()
        (await api.gql(DISABLE, token=admin.jwt)).ok()
        failed = await api.gql(ENABLE, token=admin.jwt)
        assert failed.codes == ["WEBHOOK_VERIFICATION_FAILED"]
        assert "HTTP 500" in failed.errors[0]["message"]
        assert (await api.gql(WEBHOOK_QUERY, token=admin.jwt)).ok()["auditTrailWebhook"]["enabled"] is False
        enabled = (await api.gql(ENABLE, token=admin.jwt)).ok()["auditTrailEnableWebhook"]
        assert enabled["enabled"] is True
        enable_requests = [r for r in receiver.requests if b"audit_trail_webhook.enable" in r.body]
        assert len(enable_requests) == 2


async def test_enable_and_disable_without_a_webhook_are_not_found(api: Api) -> None:
    admin = await api.key("acme", Role.ADMIN)
    assert (await api.gql(ENABLE, token=admin.jwt)).codes == ["NOT_FOUND"]
    assert (await api.gql(DISABLE, token=admin.jwt)).codes == ["NOT_FOUND"]
    assert (await api.gql(TEST, token=admin.jwt)).codes == ["NOT_FOUND"]


async def test_test_webhook_sends_a_signed_test_payload_now_and_reports_it(api: Api, receiver: Receiver) -> None:
    admin = await api.key("acme", Role.ADMIN)
    (await api.gql(SET_WEBHOOK, {"input": webhook_input(receiver.url)}, token=admin.jwt)).ok()
    delivery = (await api.gql(TEST, token=admin.jwt)).ok()["auditTrailTestWebhook"]
    assert delivery["action"] == "audit_trail_webhook.test"
    assert delivery["status"] == "DELIVERED" and delivery["attempts"] == 1
    assert delivery["lastStatusCode"] == 200 and delivery["responseSnippet"] == '{"ok":true}'
    assert receiver.requests[-1].header("X-Audit-Delivery-Id") == delivery["id"]
    assert orjson.loads(receiver.requests[-1].body)["action"] == "audit_trail_webhook.test"


async def test_test_webhook_sends_to_a_disabled_webhook_and_leaves_it_disabled(api: Api, receiver: Receiver) -> None:
    admin = await api.key("acme", Role.ADMIN)
    (await api.gql(SET_WEBHOOK, {"input": webhook_input(receiver.url)}, token=admin.jwt)).ok()
    (await api.gql(DISABLE, token=admin.jwt)).ok()

    delivery = (await api.gql(TEST, token=admin.jwt)).ok()["auditTrailTestWebhook"]

    assert delivery["status"] == "DELIVERED" and delivery["lastStatusCode"] == 200
    assert orjson.loads(receiver.requests[-1].body)["action"] == "audit_trail_webhook.test"
    webhook = (await api.gql(WEBHOOK_QUERY, token=admin.jwt)).ok()["auditTrailWebhook"]
    assert webhook["enabled"] is False


async def test_test_webhook_reports_a_failing_endpoint(api: Api) -> None:
    admin = await api.key("acme", Role.ADMIN)
    async with running_receiver(script=[Reply(status=200)], default=Reply(status=502, body=b"bad gateway")) as bad:
        retrying = webhook_input(bad.url, retryOnFailure=True)
        (await api.gql(SET_WEBHOOK, {"input": retrying}, token=admin.jwt)).ok()
        delivery = (await api.gql(TEST, token=admin.jwt)).ok()["auditTrailTestWebhook"]
    assert delivery["lastStatusCode"] == 502 and delivery["responseSnippet"] == "bad gateway"
    assert delivery["status"] == "PENDING" and delivery["nextAttemptAt"] is not None
    health = (await api.gql(WEBHOOK_QUERY, token=admin.jwt)).ok()["auditTrailWebhook"]
    assert health["consecutiveFailures"] == 1 and health["lastSuccessAt"] is not None


async def test_redeliver_sends_the_same_body_and_ids_as_a_new_attempt(api: Api, receiver: Receiver) -> None:
    admin = await api.key("acme", Role.ADMIN)
    (await api.gql(SET_WEBHOOK, {"input": webhook_input(receiver.url)}, token=admin.jwt)).ok()
    first = (await api.gql(TEST, token=admin.jwt)).ok()["auditTrailTestWebhook"]
    again = (await api.gql(REDELIVER, {"id": first["id"]}, token=admin.jwt)).ok()["auditTrailRedeliver"]
    assert again["id"] == first["id"] and again["attempts"] == 2 and again["status"] == "DELIVERED"
    original, resent = receiver.requests[-2], receiver.requests[-1]
    assert resent.body == original.body
    for name in ("X-Audit-Event-Id", "X-Audit-Delivery-Id", "webhook-id"):
        assert resent.header(name) == original.header(name)
    assert (original.header("X-Audit-Attempt"), resent.header("X-Audit-Attempt")) == ("1", "2")


async def test_redeliver_of_another_accounts_delivery_is_not_found(api: Api, receiver: Receiver) -> None:
    acme = await api.key("acme", Role.ADMIN)
    globex = await api.key("globex", Role.ADMIN)
    (await api.gql(SET_WEBHOOK, {"input": webhook_input(receiver.url)}, token=acme.jwt)).ok()
    delivery = (await api.gql(TEST, token=acme.jwt)).ok()["auditTrailTestWebhook"]
    assert (await api.gql(REDELIVER, {"id": delivery["id"]}, token=globex.jwt)).codes == ["NOT_FOUND"]
    assert (await api.gql(REDELIVER, {"id": "01ARZ3NDEKTSV4RRFFQ69G5FAV"}, token=acme.jwt)).codes == ["NOT_FOUND"]


async def test_webhook_mutations_are_audited(api: Api, receiver: Receiver) -> None:
    admin = await api.key("acme", Role.ADMIN)
    (await api.gql(SET_WEBHOOK, {"input": webhook_input(receiver.url)}, token=admin.jwt)).ok()
    (await api.gql(TEST, token=admin.jwt)).ok()
    (await api.gql(DISABLE, token=admin.jwt)).ok()
    (await api.gql(ENABLE, token=admin.jwt)).ok()
    (await api.gql(DELETE, token=admin.jwt)).ok()
    async with api.db.transaction() as session:
        rows = (
            await session.execute(
                text(
                    "SELECT action, actor, event_type, affected_resource_type, related_resource_type FROM audit_events"
                    " WHERE action LIKE 'audit_trail_webhook.%' ORDER BY id"
                )
            )
        ).all()
    assert [row.action for row in rows] == [
        "audit_trail_webhook.set",
        "audit_trail_webhook.test",
        "audit_trail_webhook.disable",
        "audit_trail_webhook.enable",
        "audit_trail_webhook.delete",
    ]
    assert {(row.actor, row.event_type, row.affected_resource_type, row.related_resource_type) for row in rows} == {
        (f"api::{admin.id}", "UPDATE", "ACCOUNT", "AUDIT_TRAIL_WEBHOOK")
    }


async def test_delivery_log_pages_newest_first_and_filters_by_status(api: Api, receiver: Receiver) -> None:
    admin = await api.key("acme", Role.ADMIN)
    (await api.gql(SET_WEBHOOK, {"input": webhook_input(receiver.url)}, token=admin.jwt)).ok()
    sent = [(await api.gql(TEST, token=admin.jwt)).ok()["auditTrailTestWebhook"]["id"] for _ in range(3)]
    page_query = (
        "query($after: String) { auditTrailWebhook { deliveries(first: 2, after: $after) {"
        " edges { cursor node { id action } } pageInfo { endCursor hasNextPage hasPreviousPage } } } }"
    )
    first = (await api.gql(page_query, token=admin.jwt)).ok()["auditTrailWebhook"]["deliveries"]
    after = first["pageInfo"]["endCursor"]
    second = (await api.gql(page_query, {"after": after}, token=admin.jwt)).ok()["auditTrailWebhook"]["deliveries"]
    ids = [edge["node"]["id"] for edge in first["edges"] + second["edges"]]
    assert ids[:3] == sent[::-1] and len(ids) == 4
    assert first["pageInfo"]["hasNextPage"] is True and second["pageInfo"]["hasNextPage"] is False
    failed = (await api.gql(WEBHOOK_QUERY, {"status": "FAILED"}, token=admin.jwt)).ok()
    assert failed["auditTrailWebhook"]["deliveries"]["edges"] == []


async def test_delete_settles_other_pending_deliveries_as_failed(api: Api, worker: None) -> None:
    admin = await api.key("acme", Role.ADMIN)
    async with running_receiver(script=[Reply(status=200)], default=Reply(status=503)) as receiver:
        retrying = webhook_input(receiver.url, retryOnFailure=True)
        (await api.gql(SET_WEBHOOK, {"input": retrying}, token=admin.jwt)).ok()
        (await api.gql(CREATE_KEY, token=admin.jwt)).ok()
        await receiver.wait_for(2)
        (await api.gql(DELETE, token=admin.jwt)).ok()
    async with api.db.transaction() as session:
        rows = (await session.execute(text("SELECT action, status, last_error FROM webhook_deliveries"))).all()
    by_action = {row.action: row for row in rows}
    assert by_action["api_key.create"].status == "FAILED"
    assert "deleted" in by_action["api_key.create"].last_error
    assert "audit_trail_webhook.delete" in by_action  # the final payload is still owed


async def test_a_deleted_webhooks_delivery_is_not_redelivered_to_its_endpoint(
    api: Api, receiver: Receiver, worker: None
) -> None:
    admin = await api.key("acme", Role.ADMIN)
    (await api.gql(SET_WEBHOOK, {"input": webhook_input(receiver.url)}, token=admin.jwt)).ok()
    tested = (await api.gql(TEST, token=admin.jwt)).ok()["auditTrailTestWebhook"]
    (await api.gql(DELETE, token=admin.jwt)).ok()
    await receiver.wait_for(3)  # set, test, and the deletion's own payload
    # A new webhook at the same endpoint: the old delivery still belongs to the deleted one.
    (await api.gql(SET_WEBHOOK, {"input": webhook_input(receiver.url)}, token=admin.jwt)).ok()
    await receiver.wait_for(4)

    refused = await api.gql(REDELIVER, {"id": tested["id"]}, token=admin.jwt)
    assert refused.codes == ["CONFLICT"], refused.errors
    assert "deleted webhook" in refused.errors[0]["message"]
    assert len(receiver.requests) == 4
    assert "audit_trail_webhook.redeliver" not in await event_actions(api)


async def event_actions(api: Api) -> list[str]:
    async with api.db.transaction() as session:
        return list((await session.execute(text("SELECT action FROM audit_events ORDER BY id"))).scalars())
