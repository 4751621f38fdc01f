"""How a live subscription ends: revoked key, logged-out token, a full buffer; and what it never sees."""

from __future__ import annotations

import secrets

from api.models import Role
from tests.live.conftest import BUFFER_EVENTS, Served
from tests.live.support import ending, live_client, record, wait_for_subscribers
from tests.receivers import SET_WEBHOOK, Reply, running_receiver, webhook_input
from tests.support.scrape import scrape

REVOKE = "mutation($id: ID!) { apiKeyDelete(id: $id) { id } }"


async def test_subscription_of_a_revoked_key_is_closed_unauthenticated(served: Served) -> None:
    admin = await served.api.key("acme", Role.ADMIN)
    reader = await served.api.key("acme", Role.READER)
    async with live_client(served.url, reader.jwt) as client:
        await client.subscribe({"predicates": [{"field": "action", "constraint": {"stringMatches": ["stack.*"]}}]})
        await wait_for_subscribers(served.api.client, 1)
        assert (await served.api.gql(REVOKE, {"id": reader.id}, token=admin.jwt)).ok()
        await record(served.api, admin.jwt, "stack.after_revocation")
        error, entries = await ending(client)
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert error["message"] == "unauthorized: API key revoked"
    assert entries == []  # the revocation event is not a stack.* entry, and nothing after it was pushed


async def test_subscription_of_a_logged_out_token_is_closed_while_other_subscribers_carry_on(served: Served) -> None:
    leaving = await served.api.key("acme", Role.READER)
    staying = await served.api.key("acme", Role.READER)
    async with live_client(served.url, leaving.jwt) as left, live_client(served.url, staying.jwt) as stayed:
        await left.subscribe({})
        await stayed.subscribe({})
        await wait_for_subscribers(served.api.client, 2)
        assert (await served.api.gql("mutation { logout { __typename } }", token=leaving.jwt)).ok()
        error, entries = await ending(left)
        kept = await stayed.entries(1)
    assert error["extensions"]["code"] == "UNAUTHENTICATED" and "logged out" in error["message"]
    assert [entry["action"] for entry in entries] == ["account.logout"]
    assert [entry["action"] for entry in kept] == ["account.logout"]


async def test_subscriber_whose_buffer_fills_is_closed_with_the_reason(served: Served) -> None:
    admin = await served.api.key("acme", Role.ADMIN)
    async with live_client(served.url, admin.jwt) as client:
        await client.subscribe({})
        await wait_for_subscribers(served.api.client, 1)
        # One batch larger than the buffer arrives at once: more than the subscriber may hold.
        await record(served.api, admin.jwt, *[f"stack.burst_{n}" for n in range(BUFFER_EVENTS + 50)])
        error, entries = await ending(client)
    assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE"
    assert f"fell {BUFFER_EVENTS} events behind" in error["message"] and "resubscribe" in error["message"]
    assert len(entries) <= BUFFER_EVENTS


async def test_a_subscriber_that_stops_reading_is_closed_once_its_buffer_is_full(served: Served) -> None:
    admin = await served.api.key("acme", Role.ADMIN)
    # Random, so that the websocket's compression cannot shrink it: the bytes must fill the buffers.
    big_data = {"note": secrets.token_urlsafe(6000)}
    closed_before = (await scrape(served.api.client, "/metrics")).value(
        "audittrail_live_subscribers_closed_total", reason="slow"
    )
    async with live_client(served.url, admin.jwt) as client:
        await client.subscribe({})
        await wait_for_subscribers(served.api.client, 1)
        # The client reads nothing: the server's socket buffers fill, then the subscriber's own.
        for _ in range(200):
            events = [{"action": "stack.update", "actor": "github::a", "eventType": "UPDATE", "data": big_data}] * 50
            assert (
                await served.api.gql(
                    "mutation($e: [AuditTrailEventInput!]!) { auditTrailRecordEvents(events: $e) { id } }",
                    {"e": events},
                    token=admin.jwt,
                )
            ).ok()
            metrics = await scrape(served.api.client, "/metrics")
            if metrics.value("audittrail_live_subscribers_closed_total", reason="slow") > closed_before:
                break
        else:
            raise AssertionError("the subscriber that read nothing was never closed")
        error, entries = await ending(client)
    assert f"fell {BUFFER_EVENTS} events behind" in error["message"]
    assert entries  # what had reached the socket before the buffer filled is still read


async def test_events_of_a_rolled_back_transaction_never_appear(served: Served) -> None:
    admin = await served.api.key("acme", Role.ADMIN)
    async with live_client(served.url, admin.jwt) as client, running_receiver(default=Reply(status=500)) as failing:
        await client.subscribe({})
        await wait_for_subscribers(served.api.client, 1)
        # Verify-on-save fails: the change and its audit_trail_webhook.set event roll back together.
        refused = await served.api.gql(SET_WEBHOOK, {"input": webhook_input(failing.url)}, token=admin.jwt)
        assert refused.codes == ["WEBHOOK_VERIFICATION_FAILED"]
        ids = await record(served.api, admin.jwt, "stack.after_rollback")
        entries = await client.entries(1)
    assert [entry["id"] for entry in entries] == ids
