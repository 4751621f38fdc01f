"""Backlog memory: the worker's RSS while a huge backlog of deliveries fails against an endpoint that is down.

1,000,000 pending deliveries (``--quick``: 100,000), all enqueued as the API would have, to an
endpoint where nothing listens.  Raw is the same worker idle (empty queue); ours is its RSS after
``DURATION`` seconds of churning through the backlog (every attempt fails and is rescheduled).
Run alone with ``python -m bench.backlog_memory [--quick]``.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import asyncpg
import psutil
from rich.progress import Progress

from api.db import raw_url
from bench.harness import Measurement, embedded_stack, free_port, run_alone, worker_process
from bench.load import (
    Span,
    create_accounts,
    create_webhook,
    enqueue_pipelined,
    generate_deliveries,
    generate_events,
    worker_is_up,
)

MB = 1024 * 1024
IDLE_SECONDS = 5


def rss_mb(pid: int) -> float:
    return float(psutil.Process(pid).memory_info().rss) / MB


async def attempts_made(database_url: str) -> int:
    connection = await asyncpg.connect(raw_url(database_url))
    try:
        return int(await connection.fetchval("SELECT coalesce(sum(attempts), 0) FROM webhook_deliveries"))
    finally:
        await connection.close()


def run(quick: bool) -> list[Measurement]:
    backlog = 100_000 if quick else 1_000_000
    duration = 20 if quick else 60
    with embedded_stack() as servers:
        database_url, redis_url = servers.database_url, servers.redis_url
        accounts = asyncio.run(create_accounts(database_url))
        account = accounts[0]
        down_endpoint = f"http://127.0.0.1:{free_port()}/hook"
        webhook_id = asyncio.run(create_webhook(database_url, account, down_endpoint))

        with worker_process(servers) as idle_worker:
            worker_is_up(redis_url)
            time.sleep(IDLE_SECONDS)
            idle_rss = rss_mb(idle_worker.pid)

        now = datetime.now(UTC)
        spans = [Span(now - timedelta(hours=6), now, backlog)]
        asyncio.run(generate_events(database_url, accounts, spans, only_account=account))
        delivery_ids = asyncio.run(generate_deliveries(database_url, account, webhook_id))
        asyncio.run(enqueue_pipelined(redis_url, delivery_ids))
        del delivery_ids

        samples: list[float] = []
        with worker_process(servers) as worker, Progress(transient=True) as progress:
            task = progress.add_task(f"worker against a dead endpoint, {duration} s", total=duration)
            started = time.monotonic()
            for second in range(1, duration + 1):
                time.sleep(max(0.0, started + second - time.monotonic()))
                samples.append(rss_mb(worker.pid))
                progress.advance(task)
        attempts = asyncio.run(attempts_made(database_url))
    final, halfway, peak = samples[-1], samples[len(samples) // 2 - 1], max(samples)
    return [
        Measurement("backlog_memory", f"worker RSS after {duration} s ({backlog:,} pending, {attempts:,} attempts)",
                    final, idle_rss, "MB", "< 200 MB", final < 200),
        Measurement("backlog_memory", f"RSS at {duration} s vs at {duration // 2} s (peak {peak:,.0f} MB)", final,
                    halfway, "MB", "flat (<= 1.1x)", final <= 1.1 * halfway),
    ]  # fmt: skip


if __name__ == "__main__":
    run_alone(run, __doc__)
