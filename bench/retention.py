"""Retention: remove a day of expired events (and their deliveries) while searches keep running.

Two expired days hold ``EXPIRED`` events each (``--quick``: 100,000; full: 1,000,000); the smallest
account (10 % of the events) has a webhook, so its expired events have delivery rows that must go
too.  Raw removes the older day by hand (one DELETE of its deliveries, one DROP of its partition);
ours runs ``apply_retention`` (the worker's hourly job), which finds and removes the other one.
A GraphQL search loop (action filter + 7 days, the largest account) runs throughout; its p95 while
ours removes is compared with its p95 before any removal.
Run alone with ``python -m bench.retention [--quick]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx

from api.audit.retention import apply_retention
from api.db import Database, raw_url
from bench.harness import Measurement, api_processes, embedded_stack, percentile, run_alone
from bench.load import Span, create_accounts, create_webhook, generate_deliveries, generate_events
from bench.search import SEARCH, login

RETENTION_DAYS = 30
BASELINE_SECONDS = 10


def day_start(day_offset: int) -> datetime:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today + timedelta(days=day_offset)


def search_variables() -> dict[str, object]:
    week_start = int((datetime.now(UTC) - timedelta(days=7)).timestamp())
    return {
        "input": {
            "first": 50,
            "predicates": [
                {"field": "action", "constraint": {"stringMatches": ["stack.update"]}},
                {"field": "createdAt", "constraint": {"timeInRange": {"start": week_start}}},
            ],
        }
    }


@contextlib.asynccontextmanager
async def search_loop(client: httpx.AsyncClient) -> AsyncIterator[list[float]]:
    """Search back to back until the block ends; yields the list the latencies (ms) go into."""
    latencies: list[float] = []
    stop = asyncio.Event()

    async def loop() -> None:
        variables = search_variables()
        while not stop.is_set():
            started = time.perf_counter()
            response = await client.post("/graphql", json={"query": SEARCH, "variables": variables})
            latencies.append((time.perf_counter() - started) * 1000)
            if response.json().get("errors"):
                raise RuntimeError(response.text)

    task = asyncio.create_task(loop())
    try:
        yield latencies
    finally:
        stop.set()
        await task


async def timed_under_search(
    client: httpx.AsyncClient, removal: Callable[[], Awaitable[object]]
) -> tuple[float, list[float]]:
    """Run ``removal`` while the search loop runs; its duration (ms) and the searches that overlapped it."""
    async with search_loop(client) as latencies:
        await asyncio.sleep(0.5)
        before = len(latencies)
        started = time.perf_counter()
        await removal()
        elapsed_ms = (time.perf_counter() - started) * 1000
        during = len(latencies)
    # The search in flight when the removal ended overlapped it too.
    overlapping = latencies[max(0, before - 1) : during + 1]
    return elapsed_ms, overlapping


async def measure(base_url: str, database_url: str, jwt: str, raw_day: datetime) -> dict[str, object]:
    async with httpx.AsyncClient(base_url=base_url, timeout=60, headers={"Authorization": f"Bearer {jwt}"}) as client:
        async with search_loop(client) as baseline:
            await asyncio.sleep(BASELINE_SECONDS)
        baseline = list(baseline)

        async def raw_removal() -> None:
            connection = await asyncpg.connect(raw_url(database_url))
            async with connection.transaction():
                await connection.execute(
                    "DELETE FROM webhook_deliveries WHERE event_created_at < $1", raw_day + timedelta(days=1)
                )
            await connection.execute(f"DROP TABLE audit_events_p{raw_day:%Y%m%d}")
            await connection.close()

        raw_ms, raw_searches = await timed_under_search(client, raw_removal)
        db = Database(database_url, pool_size=2)
        outcome: dict[str, object] = {}

        async def our_removal() -> None:
            outcome["report"] = await apply_retention(db, default_retention_days=RETENTION_DAYS)

        ours_ms, our_searches = await timed_under_search(client, our_removal)
        await db.dispose()
    connection = await asyncpg.connect(raw_url(database_url))
    left = await connection.fetchval(
        "SELECT count(*) FROM audit_events WHERE created_at < now() - make_interval(days => $1)", RETENTION_DAYS
    )
    await connection.close()
    return {
        "baseline": baseline,
        "raw_ms": raw_ms,
        "raw_searches": raw_searches,
        "ours_ms": ours_ms,
        "our_searches": our_searches,
        "left": left,
        "report": outcome["report"],
    }


def run(quick: bool) -> list[Measurement]:
    expired = 100_000 if quick else 1_000_000
    live = 200_000 if quick else 1_000_000
    raw_day, our_day = day_start(-RETENTION_DAYS - 2), day_start(-RETENTION_DAYS - 1)
    with embedded_stack() as servers:
        database_url = servers.database_url
        accounts = asyncio.run(create_accounts(database_url))

        async def prepare() -> None:
            connection = await asyncpg.connect(raw_url(database_url))
            await connection.execute("SET TIME ZONE 'UTC'")
            await connection.execute("SELECT audit_events_ensure_partitions($1::date, 1)", raw_day.date())
            await connection.close()
            now = datetime.now(UTC)
            spans = [
                Span(raw_day, raw_day + timedelta(days=1), expired),
                Span(our_day, our_day + timedelta(days=1), expired),
                Span(now - timedelta(days=7), now, live),
            ]
            await generate_events(database_url, accounts, spans)
            webhook_id = await create_webhook(database_url, accounts[3], "http://127.0.0.1:9/hook")
            await generate_deliveries(
                database_url, accounts[3], webhook_id, status="DELIVERED", before=our_day + timedelta(days=1)
            )

        asyncio.run(prepare())
        with api_processes(servers, workers=2) as base_url:

            async def with_login() -> dict[str, object]:
                async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
                    jwt = await login(client, accounts[0])
                return await measure(base_url, database_url, jwt, raw_day)

            result = asyncio.run(with_login())
    assert result["left"] == 0, f"{result['left']} expired events were left behind"
    baseline, during = result["baseline"], result["our_searches"]
    assert isinstance(baseline, list) and isinstance(during, list)
    ours_ms, raw_ms = float(result["ours_ms"]), float(result["raw_ms"])  # type: ignore[arg-type]
    p95_base, p95_during = percentile(baseline, 95), percentile(during, 95)
    deliveries = result["report"].deleted_deliveries  # type: ignore[attr-defined]
    return [
        Measurement("retention", f"remove {expired:,} expired events (+{deliveries:,} deliveries)", ours_ms,
                    raw_ms, "ms", "<= 1000 ms", ours_ms <= 1000),
        Measurement("retention", f"search p95 during removal ({len(during)} vs {len(baseline)} runs)", p95_during,
                    p95_base, "ms", "<= 2x without removal", p95_during <= 2 * p95_base),
    ]  # fmt: skip


if __name__ == "__main__":
    run_alone(run, __doc__)
