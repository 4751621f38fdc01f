"""A webhook failing past the limit is disabled by the service, says so, and is verified when enabled again."""

from __future__ import annotations

import orjson
from sqlalchemy import text

from api.audit.record import EventDraft, now_ms, record_events
from api.models import EventType, Role
from api.webhooks.auto_disable import disable_failing_webhooks
from tests.helpers import Api, Key
from tests.receivers import SET_WEBHOOK, Receiver, Reply, webhook_input

FIVE_DAYS = 5 * 86400.0
WEBHOOK = "{ auditTrailWebhook { enabled consecutiveFailures failingSince autoDisabledAt } }"
REDELIVER = "mutation($id: ID!) { auditTrailRedeliver(id: $id) { status } }"
ENABLE = "mutation { auditTrailEnableWebhook { enabled autoDisabledAt } }"
EVENTS = """{ searchAuditTrailEntries(input: {predicates: [{field: "action",
  constraint: {stringMatches: ["audit_trail_webhook.auto_disable"]}}]}) {
  edges { node { actor { username } body } } } }"""


async def failing_webhook(api: Api, admin: Key, receiver: Receiver) -> None:
    """A webhook (verified while the receiver answered 200) whose next attempt fails."""
    (await api.gql(SET_WEBHOOK, {"input": webhook_input(receiver.url)}, token=admin.jwt)).ok()
    receiver.default = Reply(status=500, body=b"down")
    draft = EventDraft(
        action="stack.updated", event_type=EventType.UPDATE, actor="github::alice", timestamp_ms=now_ms()
    )
    async with api.db.transaction() as session:
        batch = await record_events(
            session, [draft], account_id=admin.account_id, account_name=admin.account_name, recorded_by=admin.id
        )
    (await api.gql(REDELIVER, {"id": batch.delivery_ids[0]}, token=admin.jwt)).ok()


async def failing_for(api: Api, account_id: str, seconds: float) -> None:
    """Move the start of the failures back by ``seconds``, as if the receiver had been down that much longer."""
    async with api.db.transaction() as session:
        await session.execute(
            text("UPDATE webhooks SET failing_since = failing_since - make_interval(secs => :s) WHERE account_id = :a"),
            {"s": seconds, "a": account_id},
        )


async def disable_failing(api: Api) -> list[str]:
    async with api.db.transaction() as session:
        return await disable_failing_webhooks(session, failing_for_seconds=FIVE_DAYS)


async def test_a_webhook_failing_past_the_limit_is_disabled_and_says_so(api: Api, receiver: Receiver) -> None:
    admin = await api.key("acme", Role.ADMIN)
    await failing_webhook(api, admin, receiver)
    health = (await api.gql(WEBHOOK, token=admin.jwt)).ok()["auditTrailWebhook"]
    assert health["consecutiveFailures"] == 1 and health["failingSince"] is not None

    await failing_for(api, admin.account_id, FIVE_DAYS - 3600)
    assert await disable_failing(api) == []  # four days and 23 hours: still trying
    await failing_for(api, admin.account_id, 3660)
    [disabled] = await disable_failing(api)
    assert await disable_failing(api) == []  # once

    webhook = (await api.gql(WEBHOOK, token=admin.jwt)).ok()["auditTrailWebhook"]
    assert webhook["enabled"] is False and webhook["autoDisabledAt"] is not None
    [event] = (await api.gql(EVENTS, token=admin.jwt)).ok()["searchAuditTrailEntries"]["edges"]
    assert event["node"]["actor"]["username"] == "system::audittrail"
    body = orjson.loads(event["node"]["body"])
    assert body["data"]["consecutiveFailures"] == 1 and body["data"]["webhookId"] == disabled
    async with api.db.transaction() as session:
        owed = await session.execute(
            text("SELECT count(*) FROM webhook_deliveries WHERE webhook_id = :w AND action = :a"),
            {"w": disabled, "a": "audit_trail_webhook.auto_disable"},
        )
        assert owed.scalar_one() == 1, "the disabled webhook is sent the event that disabled it"

    # Enabling again verifies the endpoint first: still down, refused; back up, enabled and cleared.
    refused = await api.gql(ENABLE, token=admin.jwt)
    assert refused.errors and (await api.gql(WEBHOOK, token=admin.jwt)).ok()["auditTrailWebhook"]["enabled"] is False
    receiver.default = Reply(status=200)
    enabled = (await api.gql(ENABLE, token=admin.jwt)).ok()["auditTrailEnableWebhook"]
    assert enabled == {"enabled": True, "autoDisabledAt": None}
    assert (await api.gql(WEBHOOK, token=admin.jwt)).ok()["auditTrailWebhook"]["failingSince"] is None


async def test_a_success_ends_the_run_of_failures_and_other_accounts_are_untouched(
    api: Api, receiver: Receiver
) -> None:
    admin = await api.key("acme", Role.ADMIN)
    other = await api.key("globex", Role.ADMIN)
    await failing_webhook(api, admin, receiver)
    receiver.default = Reply(status=200)
    (await api.gql(SET_WEBHOOK, {"input": webhook_input(receiver.url)}, token=other.jwt)).ok()
    await failing_for(api, other.account_id, FIVE_DAYS * 2)  # healthy: failing_since stays NULL
    # The failed delivery succeeds on redelivery: the run of failures is over.
    async with api.db.transaction() as session:
        failed_id = (
            await session.execute(
                text("SELECT id FROM webhook_deliveries WHERE account_id = :a AND status = 'FAILED'"),
                {"a": admin.account_id},
            )
        ).scalar_one()
    (await api.gql(REDELIVER, {"id": failed_id}, token=admin.jwt)).ok()
    assert (await api.gql(WEBHOOK, token=admin.jwt)).ok()["auditTrailWebhook"]["failingSince"] is None
    await failing_for(api, admin.account_id, FIVE_DAYS * 2)  # NULL stays NULL
    assert await disable_failing(api) == []
    for key in (admin, other):
        assert (await api.gql(WEBHOOK, token=key.jwt)).ok()["auditTrailWebhook"]["enabled"] is True
