"""Delivery: one ``audittrail worker`` draining pending deliveries vs a bare httpx loop sending the same.

Both sides POST to the same fast receiver (its own uvicorn process, 204 for everything) with the
same concurrency (the worker's ``max_jobs``); the rate is counted by the receiver, first to last
receipt; the worker's CPU is counted from its first poll (its start-up imports are not a delivery's).
Then commit-to-receipt latency at a steady 100 events/s: a transaction writes the event and its
delivery row and commits, and the delivery is enqueued as the API does; raw POSTs right after the
commit instead.  The same at 10 events/s shows one delivery's own path, with no backlog; its split
(commit to the POST's start, then to receipt) comes from the attempt rows: the POST started
``latency_ms`` before its outcome's transaction began (``recorded_at``).
Run alone with ``python -m bench.deliver [--quick]``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import time
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import orjson
import psutil
from rich.progress import Progress

from api.audit.record import event_id_at, now_ms
from api.db import raw_url
from api.models import new_id
from api.webhooks.queue import connect_queue, enqueue_deliveries
from api.webhooks.signing import USER_AGENT
from bench.harness import (
    Measurement,
    cpu_seconds,
    embedded_stack,
    median,
    percentile,
    receiver_process,
    run_alone,
    worker_process,
)
from bench.load import (
    WEBHOOK_SECRET,
    BenchAccount,
    Span,
    create_accounts,
    create_webhook,
    enqueue_pipelined,
    generate_deliveries,
    generate_events,
    worker_is_up,
)

CONCURRENCY = 50  # the worker's default max_jobs
STEADY_RATE = 100
SLOW_RATE = 10
RECEIPT_P50_GOAL_MS = 20
"""Commit to receipt: the worker is woken by each enqueue (``workers/wake_ups.py``), not left to its poll."""


def receiver_stats(receiver_url: str) -> dict[str, float]:
    return dict(httpx.get(f"{receiver_url}/stats", timeout=10).json())


def reset_receiver(receiver_url: str) -> None:
    httpx.post(f"{receiver_url}/reset", timeout=10).raise_for_status()


def wait_for_receipts(receiver_url: str, count: int, *, label: str, timeout: float) -> float:
    """Block until the receiver has ``count`` requests; returns its rate, first to last receipt."""
    deadline = time.monotonic() + timeout
    with Progress(transient=True) as progress:
        task = progress.add_task(label, total=count)
        while time.monotonic() < deadline:
            stats = receiver_stats(receiver_url)
            progress.update(task, completed=stats["count"])
            if stats["count"] >= count:
                return count / max(1e-6, stats["last"] - stats["first"])
            time.sleep(0.2)
    raise RuntimeError(f"{label}: only {receiver_stats(receiver_url)['count']} of {count} arrived in {timeout:g} s")


def signed_headers(body: bytes, event_id: str, delivery_id: str) -> dict[str, str]:
    """The delivery headers of docs/design.md, computed by hand."""
    key = WEBHOOK_SECRET.encode()
    timestamp = str(int(time.time()))
    standard = hmac.new(key, f"{delivery_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Signature": "sha1=" + hmac.new(key, body, hashlib.sha1).hexdigest(),
        "X-Signature-256": "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest(),
        "webhook-id": delivery_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": "v1," + base64.b64encode(standard).decode(),
        "X-Audit-Event-Id": event_id,
        "X-Audit-Delivery-Id": delivery_id,
        "X-Audit-Attempt": "1",
    }


async def raw_send_all(database_url: str, endpoint: str, webhook_id: str) -> None:
    """The same deliveries' bodies, signed and POSTed by ``CONCURRENCY`` tasks on one pooled AsyncClient."""
    connection = await asyncpg.connect(raw_url(database_url))
    rows = await connection.fetch(
        "SELECT d.id, d.event_id, e.body FROM webhook_deliveries d "
        "JOIN audit_events e ON e.id = d.event_id AND e.created_at = d.event_created_at WHERE d.webhook_id = $1",
        webhook_id,
    )
    await connection.close()
    pending = list(rows)
    limits = httpx.Limits(max_connections=CONCURRENCY)
    async with httpx.AsyncClient(limits=limits, timeout=10, follow_redirects=False) as client:

        async def sender() -> None:
            while pending:
                row = pending.pop()
                body = row["body"].encode()
                response = await client.post(
                    endpoint, content=body, headers=signed_headers(body, row["event_id"], row["id"])
                )
                response.raise_for_status()

        await asyncio.gather(*(sender() for _ in range(CONCURRENCY)))


async def steady_commits(
    database_url: str,
    redis_url: str,
    account: BenchAccount,
    webhook_id: str,
    endpoint: str,
    count: int,
    *,
    raw: bool,
    rate: float = STEADY_RATE,
) -> dict[str, float]:
    """``count`` events at ``rate``/s, each committed with its delivery row; returns delivery id -> commit time.

    Ours enqueues the delivery after commit (as the API does); raw POSTs it itself right after commit.
    """
    connection = await asyncpg.connect(raw_url(database_url))
    queue = await connect_queue(redis_url)
    committed: dict[str, float] = {}
    posts: list[asyncio.Task[httpx.Response]] = []
    async with httpx.AsyncClient(timeout=10) as client:
        started = time.perf_counter()
        for n in range(count):
            await asyncio.sleep(max(0.0, started + n / rate - time.perf_counter()))
            timestamp_ms = now_ms()
            event_id, delivery_id = event_id_at(timestamp_ms), new_id()
            created_at = datetime.fromtimestamp(timestamp_ms / 1000, UTC)
            body = orjson.dumps(
                {"account": account.name, "action": "stack.update", "actor": "github::steady", "context": {},
                 "data": {"n": n}, "remoteIP": None, "timestamp": timestamp_ms}
            )  # fmt: skip
            async with connection.transaction():
                await connection.execute(
                    "INSERT INTO audit_events (id, created_at, account_id, action, actor, actor_source, event_type, "
                    "body) VALUES ($1, $2, $3, 'stack.update', 'github::steady', 'github', 'UPDATE', $4)",
                    event_id, created_at, account.account_id, body.decode(),
                )  # fmt: skip
                # Raw sends it itself: its row is written settled, or the running worker's sweeper
                # would send it again and its receipt would not be raw's.
                await connection.execute(
                    "INSERT INTO webhook_deliveries (id, account_id, webhook_id, event_id, event_created_at, action, "
                    "next_attempt_at, status) VALUES ($1, $2, $3, $4, $5, 'stack.update', now(), $6)",
                    delivery_id, account.account_id, webhook_id, event_id, created_at,
                    "DELIVERED" if raw else "PENDING",
                )  # fmt: skip
            committed[delivery_id] = time.time()
            if raw:
                posts.append(
                    asyncio.create_task(
                        client.post(endpoint, content=body, headers=signed_headers(body, event_id, delivery_id))
                    )
                )
            else:
                await enqueue_deliveries(queue, [delivery_id])
        await asyncio.gather(*posts)
    await queue.aclose()
    await connection.close()
    return committed


async def wal_fsyncs(database_url: str) -> int:
    """The cluster's WAL fsyncs so far (PostgreSQL 16+'s ``pg_stat_io``; those before 18 count none for WAL)."""
    connection = await asyncpg.connect(raw_url(database_url))
    try:
        return int(await connection.fetchval("SELECT coalesce(sum(fsyncs), 0) FROM pg_stat_io WHERE object = 'wal'"))
    finally:
        await connection.close()


def latencies_ms(receiver_url: str, committed: dict[str, float], *, label: str) -> list[float]:
    wait_for_receipts(receiver_url, len(committed), label=label, timeout=120)
    receipts = httpx.get(f"{receiver_url}/receipts", timeout=30).json()
    return [(receipts[delivery_id] - at) * 1000 for delivery_id, at in committed.items()]


async def post_started_ms(database_url: str, committed: dict[str, float]) -> list[float]:
    """Commit to the start of the POST, per delivery: wake-up, arq's job start and the claim."""
    connection = await asyncpg.connect(raw_url(database_url))
    rows = await connection.fetch(
        "SELECT delivery_id, extract(epoch FROM recorded_at) - latency_ms / 1000.0 AS post_started"
        " FROM webhook_delivery_attempts WHERE delivery_id = any($1::text[]) AND attempt = 1",
        list(committed),
    )
    await connection.close()
    return [(float(row["post_started"]) - committed[row["delivery_id"]]) * 1000 for row in rows]


def run(quick: bool) -> list[Measurement]:
    total = 2_000 if quick else 20_000
    steady = 300 if quick else 1_000
    slow = 100 if quick else 300
    with embedded_stack() as servers, receiver_process() as receiver_url:
        database_url, redis_url = servers.database_url, servers.redis_url
        endpoint = f"{receiver_url}/hook"
        accounts = asyncio.run(create_accounts(database_url))
        account = accounts[0]
        webhook_id = asyncio.run(create_webhook(database_url, account, endpoint))
        now = datetime.now(UTC)
        asyncio.run(
            generate_events(database_url, accounts, [Span(now - timedelta(hours=1), now, total)], only_account=account)
        )
        delivery_ids = asyncio.run(generate_deliveries(database_url, account, webhook_id))

        reset_receiver(receiver_url)
        with worker_process(servers, worker_max_jobs=str(CONCURRENCY)) as worker:
            worker_is_up(redis_url)
            worker_cpu = cpu_seconds(psutil.Process(worker.pid))
            asyncio.run(enqueue_pipelined(redis_url, delivery_ids))
            ours_rate = wait_for_receipts(receiver_url, total, label="worker delivering", timeout=600)
            worker_cpu = cpu_seconds(psutil.Process(worker.pid)) - worker_cpu
            reset_receiver(receiver_url)
            raw_cpu = time.process_time()
            asyncio.run(raw_send_all(database_url, endpoint, webhook_id))
            raw_rate = wait_for_receipts(receiver_url, total, label="raw httpx", timeout=60)
            raw_cpu = time.process_time() - raw_cpu

            reset_receiver(receiver_url)
            committed = asyncio.run(
                steady_commits(database_url, redis_url, account, webhook_id, endpoint, slow, raw=False, rate=SLOW_RATE)
            )
            slow_latency = latencies_ms(receiver_url, committed, label="slow via worker")
            slow_post_started = asyncio.run(post_started_ms(database_url, committed))
            reset_receiver(receiver_url)
            steady_cpu = cpu_seconds(psutil.Process(worker.pid))
            ours_fsyncs = asyncio.run(wal_fsyncs(database_url))
            committed = asyncio.run(
                steady_commits(database_url, redis_url, account, webhook_id, endpoint, steady, raw=False)
            )
            ours_latency = latencies_ms(receiver_url, committed, label="steady via worker")
            steady_cpu = cpu_seconds(psutil.Process(worker.pid)) - steady_cpu
            ours_fsyncs = asyncio.run(wal_fsyncs(database_url)) - ours_fsyncs
            reset_receiver(receiver_url)
            raw_fsyncs = asyncio.run(wal_fsyncs(database_url))
            committed = asyncio.run(
                steady_commits(database_url, redis_url, account, webhook_id, endpoint, steady, raw=True)
            )
            raw_latency = latencies_ms(receiver_url, committed, label="steady raw")
            raw_fsyncs = asyncio.run(wal_fsyncs(database_url)) - raw_fsyncs
            load_average = os.getloadavg()[0]
    p50, raw_p50 = median(ours_latency), median(raw_latency)
    p95, raw_p95 = percentile(ours_latency, 95), percentile(raw_latency, 95)
    p99, raw_p99 = percentile(ours_latency, 99), percentile(raw_latency, 99)
    slow_p50, slow_post_p50 = median(slow_latency), median(slow_post_started)
    return [
        Measurement("deliver", f"deliveries/s ({total:,}, concurrency {CONCURRENCY})", ours_rate, raw_rate, "req/s",
                    ">= 0.6x raw", ours_rate >= 0.6 * raw_rate),
        # The steadiest figure on a loaded machine: a worker short of CPU for STEADY_RATE falls behind,
        # and then its backlog, not its wake-up, sets the latencies below.
        Measurement("deliver", "CPU per delivery: worker process vs raw httpx loop", 1000 * worker_cpu / total,
                    1000 * raw_cpu / total, "ms CPU", "(reported)", True),
        Measurement("deliver", f"commit->receipt p50 ({steady:,} at {STEADY_RATE}/s)", p50, raw_p50, "ms",
                    f"<= {RECEIPT_P50_GOAL_MS} ms", p50 <= RECEIPT_P50_GOAL_MS),
        Measurement("deliver", f"commit->receipt p95 ({steady:,} at {STEADY_RATE}/s)", p95, raw_p95, "ms",
                    "(reported)", True),
        Measurement("deliver", f"commit->receipt p99 ({steady:,} at {STEADY_RATE}/s)", p99, raw_p99, "ms",
                    "(reported)", True),
        Measurement("deliver", f"worker CPU per delivery at {STEADY_RATE}/s (raw: the loop's, draining)",
                    1000 * steady_cpu / steady, 1000 * raw_cpu / total, "ms CPU", "(reported)", True),
        # The event's commit and the record's flush the WAL; the claim's does not (docs/design.md, section 7).
        Measurement("deliver", f"WAL fsyncs per delivery at {STEADY_RATE}/s (raw: the event's commit only)",
                    ours_fsyncs / steady, raw_fsyncs / steady, "fsyncs", "(reported)", True),
        Measurement("deliver", "load average (1 min) at the end of the steady phases", load_average, load_average,
                    "", "(reported)", True),
        # One delivery with no backlog, and where its time goes: the raw side is the raw POST's.
        Measurement("deliver", f"commit->receipt p50 ({slow:,} at {SLOW_RATE}/s, no backlog)", slow_p50, raw_p50,
                    "ms", "(reported)", True),
        Measurement("deliver", f"  of which commit->POST started (wake-up, job start, claim) at {SLOW_RATE}/s",
                    slow_post_p50, raw_p50, "ms", "(reported)", True),
    ]  # fmt: skip


if __name__ == "__main__":
    run_alone(run, __doc__)
