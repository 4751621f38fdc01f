"""The load test watched as Prometheus would: a webhook with a real receiver, a worker serving its own
``/metrics``, and scrapes of the API and the worker before and after, to compare with what the test counted."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
from sqlalchemy import text

from api.db import Database
from api.models import Role
from tests.receivers import SET_WEBHOOK, Receiver, running_receiver, webhook_input
from tests.reliability.stack import Stack, Tenant, free_port
from tests.support.polling import poll
from tests.support.processes import stop_process
from tests.support.scrape import Scrape, scrape


@dataclass(frozen=True, kw_only=True)
class CounterMoves:
    """How far the counters moved between the two scrapes."""

    ingested_events: float
    mutation_events: float
    delivered_attempts: float
    pending_after: float


@dataclass
class Watch:
    stack: Stack
    tenant: Tenant
    receiver: Receiver
    client: httpx.AsyncClient
    worker_metrics_url: str
    api_before: Scrape | None = None
    worker_before: Scrape | None = None

    async def start(self) -> None:
        """Scrape both before the load (the webhook's verification has been counted by then)."""
        self.api_before = await scrape(self.client, f"{self.stack.url}/metrics")
        self.worker_before = await scrape(self.client, self.worker_metrics_url)

    async def counter_moves(self) -> CounterMoves:
        """Once every delivery of the tenant is settled: what moved since ``start``."""
        await poll(self._settled, timeout=120, what="every delivery of the load to be settled")
        api_after = await scrape(self.client, f"{self.stack.url}/metrics")
        worker_after = await scrape(self.client, self.worker_metrics_url)
        assert self.api_before is not None and self.worker_before is not None
        events = "audittrail_events_recorded_total"
        attempts = "audittrail_delivery_attempts_total"
        return CounterMoves(
            ingested_events=api_after.value(events, source="ingestion")
            - self.api_before.value(events, source="ingestion"),
            mutation_events=api_after.value(events, source="mutation")
            - self.api_before.value(events, source="mutation"),
            delivered_attempts=worker_after.value(attempts, result="delivered")
            - self.worker_before.value(attempts, result="delivered"),
            pending_after=api_after.value("audittrail_deliveries_pending"),
        )

    async def delivered_in_database(self) -> int:
        """The tenant's deliveries DELIVERED by the worker (the webhook's verification excluded)."""
        return await self._count("status = 'DELIVERED' AND action <> 'audit_trail_webhook.set'")

    async def _settled(self) -> bool:
        return await self._count("status = 'PENDING'") == 0

    async def _count(self, condition: str) -> int:
        db = Database(self.stack.database_url, pool_size=1)
        try:
            async with db.transaction() as session:
                found = await session.execute(
                    text(f"SELECT count(*) FROM webhook_deliveries WHERE account_id = :a AND {condition}"),
                    {"a": self.tenant.account_id},
                )
                return int(found.scalar_one())
        finally:
            await db.dispose()


@asynccontextmanager
async def watched(stack: Stack, tenant: Tenant, client: httpx.AsyncClient) -> AsyncIterator[Watch]:
    """The tenant's webhook pointed at a receiver and a worker delivering to it, metrics on its own port."""
    async with running_receiver() as receiver:
        webhook = webhook_input(receiver.url, retryOnFailure=True)
        response = await stack.gql(client, SET_WEBHOOK, {"input": webhook}, token=tenant.tokens[Role.ADMIN])
        assert "errors" not in response.json(), response.text
        port = free_port()
        worker = stack.start_worker(f"watched-{tenant.name}", AUDITTRAIL_WORKER_METRICS_PORT=str(port))
        try:
            watch = Watch(stack, tenant, receiver, client, f"http://127.0.0.1:{port}/metrics")
            await poll(lambda: _answers(client, watch.worker_metrics_url), timeout=60, what="the worker's /metrics")
            await watch.start()
            yield watch
        finally:
            stop_process(worker)


async def _answers(client: httpx.AsyncClient, url: str) -> bool:
    try:
        return (await client.get(url)).status_code == 200
    except httpx.TransportError:
        return False
