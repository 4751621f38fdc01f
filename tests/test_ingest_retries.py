"""A SERVICE key resending a batch whose answer it lost, against the real service over TCP with a worker
and a real receiver: each event is stored once and delivered once, however often and however
concurrently the batch arrives."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from api.app import create_app
from api.db import Database
from api.models import Role
from api.settings import Settings
from tests.helpers import Api, Key
from tests.receivers import SET_WEBHOOK, Receiver, webhook_input
from tests.support.live_server import serving

RECORD = (
    "mutation($events: [AuditTrailEventInput!]!) { auditTrailRecordEvents(events: $events) {"
    " id externalId timestamp recordedAt } }"
)
SEARCH = "query($input: SearchInput!) { searchAuditTrailEntries(input: $input) { edges { node { id externalId } } } }"
DAY_MS = 86_400_000


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[str]:
    async with serving(create_app(settings)) as url:
        yield url


async def service_key(api: Api, server: str, account: str) -> Key:
    """A SERVICE key whose token is issued by the server it will be used at (tokens name their base URL)."""
    key = await api.key(account, Role.SERVICE, login=False)
    async with httpx.AsyncClient(base_url=server, timeout=30) as client:
        response = await client.post(
            "/graphql",
            json={
                "query": "mutation($id: ID!, $secret: String!) { apiKeyUser(id: $id, secret: $secret) { jwt } }",
                "variables": {"id": key.id, "secret": key.secret},
            },
        )
    key.jwt = response.json()["data"]["apiKeyUser"]["jwt"]
    return key


async def send(server: str, key: Key, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One client posting the batch on a connection of its own."""
    async with httpx.AsyncClient(base_url=server, timeout=30) as client:
        response = await client.post(
            "/graphql",
            json={"query": RECORD, "variables": {"events": events}},
            headers={"Authorization": f"Bearer {key.jwt}"},
        )
    answer = response.json()
    assert not answer.get("errors"), answer
    entries: list[dict[str, Any]] = answer["data"]["auditTrailRecordEvents"]
    return entries


async def settled_deliveries(db: Database, account_id: str, expected: int, timeout: float = 30.0) -> Counter[str]:
    """Poll until ``expected`` deliveries are DELIVERED; the number of deliveries per event id."""
    deadline = time.monotonic() + timeout
    while True:
        async with db.transaction() as session:
            rows = (
                await session.execute(
                    text("SELECT event_id, status FROM webhook_deliveries WHERE account_id = :a"), {"a": account_id}
                )
            ).all()
        if sum(row.status == "DELIVERED" for row in rows) >= expected or time.monotonic() > deadline:
            return Counter(str(row.event_id) for row in rows)
        await asyncio.sleep(0.1)


@pytest.mark.usefixtures("worker")
async def test_a_batch_resent_after_a_lost_answer_is_stored_and_delivered_once(
    api: Api, server: str, receiver: Receiver
) -> None:
    admin = await api.key("acme", Role.ADMIN)
    service = await service_key(api, server, "acme")
    (await api.gql(SET_WEBHOOK, {"input": webhook_input(receiver.url)}, token=admin.jwt)).ok()
    back_dated = int(time.time() * 1000) - 2 * DAY_MS
    batch = [
        {
            "action": "deploy.finish",
            "actor": "ci::pipeline-7",
            "eventType": "UPDATE",
            "externalId": f"pipeline-7/deploy-{n}",
            "timestamp": back_dated + n,
        }
        for n in range(5)
    ]

    # Four clients send the batch at once (each believes the others' attempts were lost), then
    # one more retries after they all answered.
    concurrent = await asyncio.gather(*(send(server, service, batch) for _ in range(4)))
    retried = await send(server, service, batch)

    first = concurrent[0]
    assert all(answer == first for answer in concurrent) and retried == first
    assert [entry["externalId"] for entry in first] == [event["externalId"] for event in batch]
    event_ids = [entry["id"] for entry in first]
    per_event = await settled_deliveries(api.db, service.account_id, expected=len(batch) + 1)
    assert [per_event[event_id] for event_id in event_ids] == [1] * len(batch)
    received = await receiver.wait_for(len(batch) + 1)  # and the webhook's own verification event
    arrivals = Counter(request.header("X-Audit-Event-Id") for request in received)
    assert [arrivals[event_id] for event_id in event_ids] == [1] * len(batch)
    reader = await api.key("acme", Role.READER)
    stored = await api.gql(
        SEARCH,
        {"input": {"predicates": [{"field": "action", "constraint": {"stringMatches": ["deploy.finish"]}}]}},
        token=reader.jwt,
    )
    assert sorted(edge["node"]["id"] for edge in stored.ok()["searchAuditTrailEntries"]["edges"]) == sorted(event_ids)


async def test_a_back_dated_event_is_found_by_when_it_was_recorded(api: Api, server: str) -> None:
    service = await service_key(api, server, "acme")
    reader = await api.key("acme", Role.READER)
    claimed = int(time.time() * 1000) - 2 * DAY_MS
    [entry] = await send(
        server,
        service,
        [{"action": "stack.import", "actor": "ci::importer", "eventType": "CREATE", "timestamp": claimed}],
    )
    in_the_last_hour = {"timeInLast": {"number": 1, "unit": "HOURS"}}

    async def found(field: str) -> bool:
        predicates = [{"field": field, "constraint": in_the_last_hour}]
        result = await api.gql(SEARCH, {"input": {"predicates": predicates}}, token=reader.jwt)
        return entry["id"] in {edge["node"]["id"] for edge in result.ok()["searchAuditTrailEntries"]["edges"]}

    assert entry["timestamp"] == claimed and entry["recordedAt"] - claimed >= 2 * DAY_MS - 60_000
    assert await found("recordedAt") and not await found("createdAt")


async def test_the_same_external_id_in_two_accounts_stores_two_events(api: Api, server: str) -> None:
    acme, globex = await service_key(api, server, "acme"), await service_key(api, server, "globex")
    batch = [{"action": "stack.create", "actor": "ci::x", "eventType": "CREATE", "externalId": "same-everywhere"}]

    at_acme, at_globex = await asyncio.gather(send(server, acme, batch), send(server, globex, batch))

    assert at_acme[0]["id"] != at_globex[0]["id"]
    assert at_acme[0]["externalId"] == at_globex[0]["externalId"] == "same-everywhere"
    assert await send(server, globex, batch) == at_globex
