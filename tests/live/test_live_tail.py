"""auditTrailEntryAdded over graphql-transport-ws: what a subscriber gets, and what it never gets."""

from __future__ import annotations

from tests.live.conftest import Served
from tests.live.support import Closed, live_client, record, wait_for_subscribers
from api.models import Role


async def test_subscriber_gets_entries_recorded_after_it_subscribed_under_its_filters(served: Served) -> None:
    ingestor = await served.api.key("acme", Role.SERVICE)
    reader = await served.api.key("acme", Role.READER)
    await record(served.api, ingestor.jwt, "stack.before")
    async with live_client(served.url, reader.jwt) as client:
        filtered = {"predicates": [{"field": "action", "constraint": {"stringMatches": ["stack.*"]}}]}
        await client.subscribe(filtered)
        await wait_for_subscribers(served.api.client, 1)
        ids = await record(served.api, ingestor.jwt, "stack.create", "run.start", "stack.delete")
        entries = await client.entries(2)
    assert [entry["action"] for entry in entries] == ["stack.create", "stack.delete"]
    assert [entry["id"] for entry in entries] == [ids[0], ids[2]]
