"""Shared frames: the bytes a subscriber gets equal strawberry's own, whoever shares them."""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

from api.db import Database
from api.models import Role
from api.settings import Settings
from tests.live.conftest import Served, served_app
from tests.live.support import LiveClient, live_client, record, wait_for_subscribers
from tests.support.scrape import scrape

WHOLE = """
subscription($input: AuditTrailEntryAddedInput!) {
  auditTrailEntryAdded(input: $input) {
    id action eventType runStateChange actor { username source identity run { id stackId } }
    affectedResource { resourceType resourceId } relatedResource { resourceType resourceId }
    body data context remoteIP recordedBy recordedAt externalId createdAt updatedAt timestamp
  }
}
"""
ALIASED = """
subscription Aliased($input: AuditTrailEntryAddedInput!) {
  added: auditTrailEntryAdded(input: $input) {
    __typename entryId: id kind: eventType who: actor { __typename username }
  }
}
"""
FRAGMENTS = """
subscription($input: AuditTrailEntryAddedInput!, $withBody: Boolean!) {
  auditTrailEntryAdded(input: $input) { ...Entry body @include(if: $withBody) data @skip(if: $withBody) }
}
fragment Entry on AuditTrailEntry { action id affectedResource { ... on AuditTrailResource { resourceId } } }
"""
STACKS = {"predicates": [{"field": "action", "constraint": {"stringMatches": ["stack.*"]}}]}
OPERATIONS: list[dict[str, Any]] = [
    {"query": WHOLE, "variables": {"input": {}}},
    {"query": ALIASED, "variables": {"input": STACKS}, "operationName": "Aliased"},
    {"query": FRAGMENTS, "variables": {"input": {}, "withBody": True}},
    {"query": FRAGMENTS, "variables": {"withBody": False, "input": {}}},
]


async def subscribed_clients(
    stack: AsyncExitStack, served: Served, jwt: str, copies: int, already: int = 0
) -> list[LiveClient]:
    """``copies`` websockets, each subscribed to every operation (ids 1, 2, ...); the process's
    subscriber count (both apps of a test share it) then reaches ``already`` more than theirs."""
    clients = [await stack.enter_async_context(live_client(served.url, jwt)) for _ in range(copies)]
    for client in clients:
        for number, operation in enumerate(OPERATIONS, start=1):
            await client.send_subscribe(str(number), operation)
    await wait_for_subscribers(served.api.client, already + copies * len(OPERATIONS))
    return clients


async def frames(client: LiveClient, count: int) -> list[str]:
    found = [await client.next_frame() for _ in range(count)]
    assert all(isinstance(frame, str) for frame in found), found
    return sorted(str(frame) for frame in found)  # operations interleave; each one's order is its own


async def test_shared_frames_are_byte_for_byte_what_strawberry_sends(settings: Settings, db: Database) -> None:
    plain_settings = settings.model_copy(update={"live_shared_frames": False})
    async with (
        served_app(settings, db) as shared,
        served_app(plain_settings, db) as plain,
        AsyncExitStack() as stack,
    ):
        # Keys first: each login is an entry too, which a subscriber already there would get.
        ingestor = await shared.api.key("acme", Role.SERVICE)
        shared_reader = await shared.api.key("acme", Role.READER)
        plain_reader = await plain.api.key("acme", Role.READER)
        sharing = await subscribed_clients(stack, shared, shared_reader.jwt, copies=3)
        [alone] = await subscribed_clients(stack, plain, plain_reader.jwt, copies=1, already=3 * len(OPERATIONS))
        events = [
            {
                "action": "stack.create",
                "actor": "github::alice",
                "eventType": "CREATE",
                "affectedResource": {"resourceType": "STACK", "resourceId": "prod"},
                "data": {"big": 2**53, "text": 'quote " and é', "nested": [1, {"a": None}]},
            },
            {"action": "run.start", "actor": "api::ci", "eventType": "UPDATE"},
            {"action": "stack.delete", "actor": "github::bob", "eventType": "DELETE", "remoteIP": "10.0.0.1"},
        ]
        before = await scrape(shared.api.client, "/metrics")
        recorded = await shared.api.gql(
            "mutation($events: [AuditTrailEventInput!]!) { auditTrailRecordEvents(events: $events) { id } }",
            {"events": events},
            token=ingestor.jwt,
        )
        assert recorded.ok()
        # Every operation sees the three events, but the aliased one only the two stack.* events.
        expected = 3 * len(OPERATIONS) - 1
        reference = await frames(alone, expected)
        for client in sharing:
            assert await frames(client, expected) == reference
        after = await scrape(shared.api.client, "/metrics")  # one process: both apps' counts

    def sent(how: str) -> float:
        name = "audittrail_live_entries_sent_total"
        return after.value(name, how=how) - before.value(name, how=how)

    # Per event and selection, one of the three sharing subscribers executes it, two reuse its bytes.
    assert (sent("executed"), sent("shared"), sent("plain")) == (expected, 2 * expected, expected)
    assert any('"data":{"added":{"__typename":"AuditTrailEntry","entryId":' in f for f in reference)
    assert any('"body":' in f and '"id":"3"' in f for f in reference)
    assert any('"data":' in f and '"id":"4"' in f for f in reference)


async def test_two_accounts_with_the_same_document_each_get_only_their_own_entries(served: Served) -> None:
    acme = await served.api.key("acme", Role.READER)
    globex = await served.api.key("globex", Role.READER)
    acme_writer = await served.api.key("acme", Role.SERVICE)
    globex_writer = await served.api.key("globex", Role.SERVICE)
    async with live_client(served.url, acme.jwt) as acme_client, live_client(served.url, globex.jwt) as globex_client:
        for client in (acme_client, globex_client):
            await client.send_subscribe("1", OPERATIONS[0])
        await wait_for_subscribers(served.api.client, 2)
        acme_ids = await record(served.api, acme_writer.jwt, "stack.acme_one", "stack.acme_two")
        globex_ids = await record(served.api, globex_writer.jwt, "stack.globex_one")
        acme_ids += await record(served.api, acme_writer.jwt, "stack.acme_three")
        acme_entries = await acme_client.entries(3)
        globex_entries = await globex_client.entries(1)
        # Nothing more is on its way to globex: acme's next entry arrives at acme, and globex's next at globex.
        await record(served.api, globex_writer.jwt, "stack.globex_two")
        [next_globex] = await globex_client.entries(1)
    assert [entry["id"] for entry in acme_entries] == acme_ids
    assert [entry["id"] for entry in globex_entries] == globex_ids
    assert next_globex["action"] == "stack.globex_two"
