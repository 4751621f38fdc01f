"""Scale-out on separate servers (Debian's PostgreSQL and Redis on their own ports): several API and
worker processes, a receiver failing a third of the requests, a worker SIGKILLed mid-run.

Every event is delivered; no attempt is sent twice (attempt numbers are unique per delivery); what
the killed worker held comes back through the sweeper alone (arq keeps a dead worker's jobs marked
in progress for its longest job timeout, so only the sweeper's wake-ups can take them up in time);
and any API's ``/metrics`` reports the events both APIs recorded.  ``make test`` runs 600 events (about a
minute on a quiet two-core machine); ``make soak`` the full 5,000, and the 1 API + 1 worker baseline.
"""

from __future__ import annotations

import asyncio
import itertools
import signal
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import orjson
import pytest
from redis.asyncio import Redis
from sqlalchemy import text

from api.db import Database, raw_url
from tests.receivers import SET_WEBHOOK, ReceivedRequest, Reply, running_receiver, webhook_input
from tests.scaleout.servers import DebianPostgres, DebianRedis
from tests.scaleout.topology import WEBHOOK_TIMEOUT_SECONDS, Credentials, Topology, credentials
from tests.support.databases import empty_tables
from tests.support.polling import poll
from tests.support.scrape import scrape

RECORD = "mutation($events: [AuditTrailEventInput!]!) { auditTrailRecordEvents(events: $events) { id } }"
BATCH_EVENTS = 50
CLIENTS = 8
VICTIM_TIMEOUT_SECONDS = 6.0
"""The worker to kill sends with a longer timeout, so its leases (three timeouts) outlast every other
worker's: a lease ending more than three of the others' timeouts ahead can only be the victim's.  Long
enough that its leases still stand out well after the kill: with 2 s (6 s leases), a loaded machine took
more than the 2.8 s left between the victim's last claim and the read after the kill, and found none."""
RECEIVER_DELAY_SECONDS = 0.02
STALL_SECONDS = 5.0
"""Before the kill the receiver answers 503 this slowly: the victim (6 s timeout) is sure to have attempts
in flight, each for 5 s; the others (1 s) time out; all of them are retried."""


@dataclass(frozen=True)
class Scale:
    apis: int
    workers: int
    events: int
    kill_a_worker: bool


SCALES = [
    pytest.param(Scale(apis=2, workers=3, events=600, kill_a_worker=True), id="2-apis-3-workers"),
    pytest.param(Scale(2, 3, 5000, kill_a_worker=True), id="soak-2-apis-3-workers", marks=pytest.mark.soak),
    pytest.param(Scale(1, 1, 5000, kill_a_worker=False), id="soak-1-api-1-worker", marks=pytest.mark.soak),
]


class FailingAThird:
    """Answers 500 to every third event request (verify-on-save gets its 200), remembering what got a 2xx."""

    def __init__(self) -> None:
        self.arrivals = itertools.count(1)
        self.delivered_event_ids: set[str] = set()
        self.is_stalled = False

    def __call__(self, request: ReceivedRequest) -> Reply:
        if b'"audit_trail_webhook.set"' in request.body:
            return Reply()
        if self.is_stalled:
            return Reply(status=503, delay_seconds=STALL_SECONDS)
        if next(self.arrivals) % 3 == 0:
            return Reply(status=500, delay_seconds=RECEIVER_DELAY_SECONDS)
        self.delivered_event_ids.add(request.header("X-Audit-Event-Id") or "")
        return Reply(delay_seconds=RECEIVER_DELAY_SECONDS)


@pytest.mark.timeout(900)
@pytest.mark.parametrize("scale", SCALES)
async def test_apis_and_workers_on_separate_servers_deliver_every_event_once_per_attempt(
    separate_servers: tuple[DebianPostgres, DebianRedis], tmp_path: Path, scale: Scale
) -> None:
    postgres, redis = separate_servers
    await empty_servers(postgres.url, redis.url)
    topology = Topology(root=tmp_path, database_url=postgres.url, redis_url=redis.url)
    answers = FailingAThird()
    async with running_receiver(reply_for=answers) as receiver, httpx.AsyncClient(timeout=60) as client:
        try:
            for _ in range(scale.apis):
                topology.start_api()
            victim = topology.start_worker(webhook_timeout_seconds=str(VICTIM_TIMEOUT_SECONDS))
            for _ in range(scale.workers - 1):
                topology.start_worker()
            await asyncio.to_thread(topology.wait_until_serving)
            keys = await credentials(postgres.url, topology.api_urls[0], "scaleout")
            webhook = webhook_input(receiver.url, retryOnFailure=True)
            set_webhook = await client.post(
                f"{topology.api_urls[0]}/graphql",
                json={"query": SET_WEBHOOK, "variables": {"input": webhook}},
                headers={"Authorization": f"Bearer {keys.admin_jwt}"},
            )
            assert "errors" not in set_webhook.json(), set_webhook.text

            started = time.monotonic()
            recording = asyncio.create_task(record_through_every_api(client, topology, keys, scale.events))
            held: dict[str, int] = {}
            if scale.kill_a_worker:
                await receiver.wait_for(scale.events // 4, timeout=120)
                answers.is_stalled = True
                await poll(lambda: victim_holds_attempts(postgres.url), timeout=60, what="the victim to hold attempts")
                # Stopped at once: from here it cannot finish the attempts it was seen holding, however long
                # the kill and the read below take on a loaded machine (it had 5 s, and a run once missed them).
                victim.send_signal(signal.SIGSTOP)
                held = await leases_of_the_victim(postgres.url)
                topology.kill_worker(victim)
                answers.is_stalled = False
            event_ids, calls_per_api = await recording
            recorded_in = time.monotonic() - started
            # Polled twice a second: the receiver shares this process's event loop and must not be starved.
            await poll(
                lambda: all_delivered(postgres.url, scale.events),
                timeout=240,
                every=0.5,
                what=f"{scale.events} deliveries",
            )
            delivered_in = time.monotonic() - started
            final = await deliveries(postgres.url)
            api_scrapes = [await scrape(client, f"{url}/metrics") for url in topology.api_urls]
            worker_scrape = await scrape(client, topology.worker_metrics_urls[0])
        except BaseException:
            print(topology.logs())
            raise
        finally:
            await asyncio.to_thread(topology.stop)
        attempts_seen = attempts_by_delivery(receiver.requests)

    print(
        f"\nscale-out figures: {scale.apis} API + {scale.workers} worker processes, {scale.events} events in"
        f" batches of {BATCH_EVENTS} from {CLIENTS} clients: recorded in {recorded_in:.1f} s"
        f" ({scale.events / recorded_in:.0f} events/s, calls per API {calls_per_api}); all delivered"
        f" {delivered_in:.1f} s after the first call ({scale.events / delivered_in:.0f} deliveries/s);"
        f" {sum(len(seen) for seen in attempts_seen.values())} attempts received;"
        f" killed worker held {len(held)}"
    )
    assert len(event_ids) == scale.events
    assert event_ids <= answers.delivered_event_ids, "every event reached the receiver with a 2xx"
    assert {row.status for row in final.values()} == {"DELIVERED"} and len(final) == scale.events
    duplicated = {delivery: seen for delivery, seen in attempts_seen.items() if len(seen) != len(set(seen))}
    assert not duplicated, f"attempts sent twice: {dict(list(duplicated.items())[:5])}"
    assert all(max(seen) <= final[delivery].attempts for delivery, seen in attempts_seen.items() if delivery in final)
    if scale.kill_a_worker:
        assert held, "the killed worker should have held attempts in flight"
        recovered = {delivery: final[delivery].attempts for delivery in held}
        assert all(recovered[delivery] > attempts for delivery, attempts in held.items()), (held, recovered)
    for api_scrape in api_scrapes:
        assert api_scrape.value("audittrail_events_recorded_total", source="ingestion") == scale.events
        assert api_scrape.value(
            "audittrail_graphql_requests_total", operation="auditTrailRecordEvents", code="ok"
        ) == sum(calls_per_api.values())
        assert api_scrape.value("audittrail_deliveries_pending") == 0
    delivered_counted = worker_scrape.value("audittrail_delivery_attempts_total", result="delivered")
    # A worker killed between its commit and its increment leaves at most its in-flight attempts uncounted.
    assert scale.events - 25 <= delivered_counted <= scale.events


async def record_through_every_api(
    client: httpx.AsyncClient, topology: Topology, keys: Credentials, events: int
) -> tuple[set[str], Counter[str]]:
    """``events`` events in batches, the batches spread over the APIs in turn by ``CLIENTS`` clients."""
    batches = iter(range(events // BATCH_EVENTS))
    event_ids: set[str] = set()
    calls_per_api: Counter[str] = Counter()

    async def one_client() -> None:
        for batch in batches:
            url = topology.api_urls[batch % len(topology.api_urls)]
            payload = [
                {
                    "action": "stack.updated",
                    "actor": f"scaleout::client-{batch}",
                    "eventType": "UPDATE",
                    "data": {"n": n},
                }
                for n in range(BATCH_EVENTS)
            ]
            response = await client.post(
                f"{url}/graphql",
                json={"query": RECORD, "variables": {"events": payload}},
                headers={"Authorization": f"Bearer {keys.service_jwt}"},
            )
            body = orjson.loads(response.content)
            assert response.status_code == 200 and "errors" not in body, response.text[:500]
            event_ids.update(entry["id"] for entry in body["data"]["auditTrailRecordEvents"])
            calls_per_api[url] += 1

    await asyncio.gather(*(one_client() for _ in range(CLIENTS)))
    return event_ids, calls_per_api


def attempts_by_delivery(requests: list[ReceivedRequest]) -> dict[str, list[int]]:
    """The attempt numbers the receiver saw for each delivery, in arrival order."""
    seen: dict[str, list[int]] = defaultdict(list)
    for request in requests:
        delivery_id, attempt = request.header("X-Audit-Delivery-Id"), request.header("X-Audit-Attempt")
        if delivery_id and attempt and b'"audit_trail_webhook.set"' not in request.body:
            seen[delivery_id].append(int(attempt))
    return seen


@dataclass(frozen=True)
class DeliveryRow:
    status: str
    attempts: int


async def deliveries(database_url: str) -> dict[str, DeliveryRow]:
    """Every event delivery (not the webhook's own verification) by id."""
    db = Database(database_url, pool_size=1)
    try:
        async with db.transaction() as session:
            rows = await session.execute(
                text("SELECT id, status, attempts FROM webhook_deliveries WHERE action = 'stack.updated'")
            )
            return {str(row.id): DeliveryRow(str(row.status), int(row.attempts)) for row in rows}
    finally:
        await db.dispose()


async def all_delivered(database_url: str, expected: int) -> bool:
    """One count, on one connection: cheap enough to ask often."""
    connection = await asyncpg.connect(raw_url(database_url))
    try:
        delivered = await connection.fetchval(
            "SELECT count(*) FROM webhook_deliveries WHERE action = 'stack.updated' AND status = 'DELIVERED'"
        )
    finally:
        await connection.close()
    return int(delivered) == expected


async def victim_holds_attempts(database_url: str) -> bool:
    return bool(await leases_of_the_victim(database_url))


async def leases_of_the_victim(database_url: str) -> dict[str, int]:
    """Attempts the victim holds (once killed: claimed and never recorded), by delivery: leases ending
    beyond any other worker's (a live worker's lease is at most three of its timeouts ahead, a retry at
    most a second)."""
    db = Database(database_url, pool_size=1)
    try:
        async with db.transaction() as session:
            rows = await session.execute(
                text(
                    "SELECT id, attempts FROM webhook_deliveries WHERE status = 'PENDING'"
                    " AND next_attempt_at > now() + make_interval(secs => :others_lease)"
                ),
                {"others_lease": 3 * WEBHOOK_TIMEOUT_SECONDS + 0.2},
            )
            return {str(row.id): int(row.attempts) for row in rows}
    finally:
        await db.dispose()


async def empty_servers(database_url: str, redis_url: str) -> None:
    """The servers outlive one test: every test starts from empty tables and an empty Redis."""
    db = Database(database_url, pool_size=1)
    try:
        await empty_tables(db, "webhook_deliveries, webhooks, audit_events, api_keys, accounts")
    finally:
        await db.dispose()
    redis = Redis.from_url(redis_url)
    await redis.flushall()
    await redis.aclose()
