"""Many subscribers under a steady stream, and the live filters against the search's answers."""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from contextlib import AsyncExitStack
from typing import Any

from api.models import Role
from tests.live.conftest import Served
from tests.live.support import RECORD, LiveClient, live_client, wait_for_subscribers

IDS_ONLY = "subscription($input: AuditTrailEntryAddedInput!) { auditTrailEntryAdded(input: $input) { id } }"
SEARCH_IDS = """
query($input: SearchInput!) {
  searchAuditTrailEntries(input: $input) { edges { node { id } } }
}
"""


async def collect(client: LiveClient, count: int, arrived: dict[str, float]) -> None:
    while len(arrived) < count:
        message = await client.next_message(timeout=60)
        assert isinstance(message, dict) and message["type"] == "next", message
        assert "errors" not in message["payload"], message["payload"]["errors"]
        arrived[message["payload"]["data"]["auditTrailEntryAdded"]["id"]] = time.monotonic()


async def test_fifty_subscribers_at_five_hundred_events_a_second_get_every_event(served_default: Served) -> None:
    served = served_default
    subscribers, per_second, seconds, batch = 50, 500, 1, 25
    key = await served.api.key("acme", Role.ADMIN)
    committed: dict[str, float] = {}
    arrivals: list[dict[str, float]] = [{} for _ in range(subscribers)]
    async with AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(live_client(served.url, key.jwt)) for _ in range(subscribers)]
        for client in clients:
            await client.subscribe({}, query=IDS_ONLY)
        await wait_for_subscribers(served.api.client, subscribers)
        total = per_second * seconds
        readers = [asyncio.create_task(collect(c, total, a)) for c, a in zip(clients, arrivals, strict=True)]
        started = time.monotonic()
        for number in range(total // batch):
            # Paced: batch n leaves at n * batch / per_second seconds after the start.
            await asyncio.sleep(max(0.0, started + number * batch / per_second - time.monotonic()))
            events = [{"action": "stack.update", "actor": "github::a", "eventType": "UPDATE"}] * batch
            result = await served.api.gql(RECORD, {"events": events}, token=key.jwt)
            returned = time.monotonic()
            committed.update((entry["id"], returned) for entry in result.ok()["auditTrailRecordEvents"])
        await asyncio.gather(*readers)
    for arrived in arrivals:
        assert set(arrived) == set(committed)
    # After the mutation returned is after commit; an event may reach a subscriber before the HTTP answer.
    latencies = sorted(max(0.0, at - committed[i]) * 1000 for arrived in arrivals for i, at in arrived.items())
    p50, p95 = statistics.median(latencies), latencies[int(len(latencies) * 0.95)]
    print(f"\nlive tail: {subscribers} subscribers, {per_second} events/s: latency p50 {p50:.1f} ms, p95 {p95:.1f} ms")


FIELDS: dict[str, list[str]] = {
    "action": ["stack.create", "stack.delete", "run.start", "policy.attach"],
    "actor": ["github::alice", "github::bob", "api::ci"],
    "eventType": ["CREATE", "UPDATE", "DELETE"],
}


def random_predicate(rng: random.Random) -> dict[str, Any]:
    field = rng.choice(list(FIELDS))
    values = rng.sample(FIELDS[field], rng.randint(1, 2))
    if field == "eventType":
        constraint: dict[str, Any] = {"enumEquals": values}
    else:
        constraint = {"stringMatches": [v.split(".")[0] + ".*" if rng.random() < 0.3 else v for v in values]}
    return {"field": field, "constraint": constraint, "exclude": rng.random() < 0.25}


async def test_live_filters_select_exactly_what_the_search_selects(served: Served) -> None:
    rng = random.Random(16)
    key = await served.api.key("acme", Role.ADMIN)
    filters: list[dict[str, Any]] = [{}] + [
        {
            "predicates": [random_predicate(rng) for _ in range(rng.randint(1, 3))],
            **({"fullTextSearch": rng.choice(["alice", "STACK", "ci create"])} if rng.random() < 0.3 else {}),
        }
        for _ in range(11)
    ]
    events = [
        {
            "action": rng.choice(FIELDS["action"]),
            "actor": rng.choice(FIELDS["actor"]),
            "eventType": rng.choice(FIELDS["eventType"]),
        }
        for _ in range(120)
    ]
    async with AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(live_client(served.url, key.jwt)) for _ in filters]
        for client, wanted in zip(clients, filters, strict=True):
            await client.subscribe(wanted, query=IDS_ONLY)
        await wait_for_subscribers(served.api.client, len(filters))
        recorded: set[str] = set()
        for start in range(0, len(events), 40):
            result = await served.api.gql(RECORD, {"events": events[start : start + 40]}, token=key.jwt)
            recorded.update(entry["id"] for entry in result.ok()["auditTrailRecordEvents"])
        searched = []
        for wanted in filters:
            result = await served.api.gql(SEARCH_IDS, {"input": {**wanted, "first": 500}}, token=key.jwt)
            found = {edge["node"]["id"] for edge in result.ok()["searchAuditTrailEntries"]["edges"]}
            searched.append(found & recorded)  # the key's login, before anyone subscribed, is not a live entry
        pushed: list[dict[str, float]] = [{} for _ in filters]
        await asyncio.gather(*(collect(c, len(s), p) for c, s, p in zip(clients, searched, pushed, strict=True)))
    assert any(0 < len(found) < len(events) for found in searched)  # the filters do select
    for found, arrived in zip(searched, pushed, strict=True):
        assert set(arrived) == found
