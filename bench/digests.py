"""Digests: what signing costs ingestion, one digest over a large interval, and verification speed.

1. Ingestion over HTTP (``bench.ingest``'s load, one API process) with a worker digesting every second ("on";
   ``BENCH_DIGEST_INTERVAL_SECONDS`` to change) vs the same worker whose interval never closes ("off"), in
   alternating rounds (off, on, off, on, ...: 3 of each, ``--quick`` 2, ``BENCH_DIGEST_ROUNDS`` to choose: the
   rounds' rates vary by up to 20 % on a shared machine), on a fresh database.  Before each
   "on" round the worker first digests what earlier rounds recorded, so each round pays for its own events
   only.  Besides the rates, the CPU per 1,000 events of the API process, of PostgreSQL and of the worker.
2. One digest over ``EVENTS`` events recorded in one interval (seeded by one ``INSERT ... SELECT
   generate_series``; ``--quick``: 100,000, full: 1,000,000; ``--events N`` or ``BENCH_DIGEST_EVENTS``
   to choose), written as the cron writes it (digest events off: see docs/design.md on their size), beside
   a bare asyncpg fetch of the same (id, hash) rows; in wall time and in CPU (this process and PostgreSQL's).
3. ``verify_database`` over those events (every body re-hashed, every column compared, the Merkle
   root recomputed) in events/s, beside raw ``hashlib.sha256`` over the same ids and bodies; and its CPU
   per event (this process and PostgreSQL's) beside that of the raw hashing.
Run alone with ``python -m bench.digests [--quick]``.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Generic, TypeVar

import asyncpg
import httpx
import psutil
import redis
from arq.constants import default_queue_name, health_check_key_suffix
from sqlalchemy import text
from ulid import ULID

from api import integrity
from api.db import Database, raw_url
from api.embedded import EmbeddedServers
from api.integrity.digester import AccountToDigest, write_next_digest
from api.integrity.statement import SignedDigest
from bench.harness import Measurement, api_processes, console, embedded_stack, run_alone, worker_process
from bench.ingest import ingest_over_http, login, setup_account

INTERVAL_SECONDS = 3600
GOAL_EVENTS = 1_000_000
GOAL_SECONDS = 5.0
T = TypeVar("T")
NEVER = datetime.min.replace(tzinfo=UTC)

SEED = """
INSERT INTO audit_events (id, created_at, account_id, action, actor, actor_source, event_type, context, data,
                          remote_ip, body, recorded_at, event_hash)
SELECT id, $2, $1, 'stack.update', 'api::bench', 'api', 'UPDATE', '{}'::jsonb, jsonb_build_object('n', n), NULL,
       body, $3::timestamptz + make_interval(secs => (n % 3000) / 1.0), sha256(convert_to(id || body, 'UTF8'))
FROM (
    SELECT n, $4::text || lpad(upper(to_hex(n)), 16, '0') AS id,
           '{"account":"digested","action":"stack.update","actor":"api::bench","context":{},"data":{"n":' || n
           || '},"remoteIP":null,"timestamp":' || $5::text || '}' AS body
    FROM generate_series(1, $6::bigint) AS n
) AS generated
"""


def interval_events(quick: bool) -> int:
    return int(os.environ.get("BENCH_DIGEST_EVENTS", 100_000 if quick else GOAL_EVENTS))


@dataclass(frozen=True)
class Cost:
    """What one step took: wall time, and the CPU of this process (all threads) and of PostgreSQL."""

    seconds: float
    own_cpu: float
    postgres_cpu: float

    @property
    def cpu(self) -> float:
        return self.own_cpu + self.postgres_cpu


def cpu_seconds(process: psutil.Process) -> float:
    """User + system CPU of ``process``, its live children, and the children it has reaped (PostgreSQL's
    parallel workers come and go within one query)."""
    times = process.cpu_times()
    total = times.user + times.system + times.children_user + times.children_system
    for child in process.children(recursive=True):
        with_child = child.cpu_times()
        total += with_child.user + with_child.system
    return total


def postmaster(servers: EmbeddedServers) -> psutil.Process:
    assert servers.postgres is not None, "the benchmark runs on embedded PostgreSQL"
    return psutil.Process(int((servers.postgres.pgdata / "postmaster.pid").read_text().splitlines()[0]))


@dataclass(frozen=True)
class Timed(Generic[T]):
    """A step's result with its own wall time and this process's CPU (all threads), taken around the
    step alone: connecting and disconnecting are left out."""

    result: T
    seconds: float
    own_cpu: float


async def timed(step: Awaitable[T]) -> Timed[T]:
    started, own_before = time.perf_counter(), time.process_time()
    result = await step
    return Timed(result, time.perf_counter() - started, time.process_time() - own_before)


def measure(servers: EmbeddedServers, step: Callable[[], Coroutine[Any, Any, Timed[T]]]) -> tuple[T, Cost]:
    """Run ``step`` in a fresh event loop; its wall time, this process's CPU and PostgreSQL's (every
    process of the server, once the step's backend has exited and been counted)."""
    postgres = postmaster(servers)
    time.sleep(1)  # the backends of the step before exited, and their CPU counted before this one's starts
    postgres_before = cpu_seconds(postgres)
    outcome = asyncio.run(step())
    time.sleep(1)  # the backend's exit, and its CPU added to the postmaster's children's
    return outcome.result, Cost(outcome.seconds, outcome.own_cpu, cpu_seconds(postgres) - postgres_before)


async def seed_interval(database_url: str, events: int) -> tuple[str, datetime]:
    """An account ``digested`` with ``events`` events recorded in one interval; returns its id and the interval."""
    connection = await asyncpg.connect(raw_url(database_url))
    account_id = str(ULID())
    await connection.execute(
        "INSERT INTO accounts (id, name, retention_days, created_at, digest_events)"
        " VALUES ($1, 'digested', 30, now(), false)",
        account_id,
    )
    now = datetime.now(UTC)
    interval_start = datetime.fromtimestamp(int(now.timestamp()) // INTERVAL_SECONDS * INTERVAL_SECONDS, UTC)
    interval_start -= timedelta(seconds=2 * INTERVAL_SECONDS)
    created_ms = int(now.timestamp() * 1000)
    id_prefix = str(ULID.from_timestamp(created_ms / 1000))[:10]
    created_at = datetime.fromtimestamp(created_ms / 1000, UTC)
    await connection.execute(
        SEED, account_id, created_at, interval_start, id_prefix, str(created_ms), events, timeout=3600
    )
    # Vacuumed: the first read of fresh rows sets their hint bits, a cost of the seed's, not of the
    # first step measured; and autovacuum has nothing left to do during the measurements.
    await connection.execute("VACUUM ANALYZE audit_events", timeout=3600)
    # And checkpointed: the seed's dirty pages are written now, not by the checkpointer during the steps measured.
    await connection.execute("CHECKPOINT", timeout=3600)
    await connection.close()
    return account_id, interval_start


async def raw_fetch(database_url: str, account_id: str, start: datetime) -> Timed[None]:
    connection = await asyncpg.connect(raw_url(database_url))
    fetched = await timed(
        connection.fetch(
            "SELECT id, event_hash FROM audit_events WHERE account_id = $1 AND recorded_at >= $2 AND recorded_at < $3",
            account_id,
            start,
            start + timedelta(seconds=INTERVAL_SECONDS),
            timeout=600,
        )
    )
    await connection.close()
    return Timed(None, fetched.seconds, fetched.own_cpu)


async def write_digest(database_url: str, account_id: str, start: datetime, key: integrity.SigningKey) -> Timed[None]:
    db = Database(database_url, pool_size=1)
    schedule = integrity.DigestSchedule(interval_seconds=INTERVAL_SECONDS, grace_seconds=60)
    account = AccountToDigest(account_id, "digested", records_digest_events=False)

    async def in_its_transaction() -> SignedDigest | None:
        async with db.transaction() as session:
            return await write_next_digest(session, account, key, schedule, datetime.now(UTC))

    async with db.transaction() as session:  # connected before the step, as the worker's pool is
        await session.execute(text("SELECT 1"))
    written = await timed(in_its_transaction())
    await db.dispose()
    assert written.result is not None and written.result.statement.interval_start == start
    return Timed(None, written.seconds, written.own_cpu)


async def verify_all(database_url: str, key: integrity.SigningKey) -> Timed[int]:
    db = Database(database_url, pool_size=1)
    accounts = await integrity.accounts_to_verify(db, "digested")
    verified = await timed(integrity.verify_database(db, accounts, {key.public.key_id: key.public}))
    await db.dispose()
    assert verified.result.is_clean, verified.result.problems[:5]
    return Timed(verified.result.events_checked, verified.seconds, verified.own_cpu)


async def raw_sha256_seconds(database_url: str, account_id: str) -> float:
    connection = await asyncpg.connect(raw_url(database_url))
    rows = await connection.fetch("SELECT id, body FROM audit_events WHERE account_id = $1", account_id, timeout=600)
    await connection.close()
    pairs = [(row["id"].encode(), row["body"].encode()) for row in rows]
    started = time.process_time()
    for event_id, body in pairs:
        hashlib.sha256(event_id + body).digest()
    return time.process_time() - started


@dataclass(frozen=True)
class IngestRun:
    rate: float
    api_cpu_per_1000: float
    """API process CPU seconds per 1,000 events."""
    postgres_cpu_per_1000: float
    """Every PostgreSQL process's CPU seconds per 1,000 events (the digester's statements included)."""
    worker_cpu_per_1000: float
    """Worker CPU seconds per 1,000 events, while they were sent."""


def mean_of(runs: list[IngestRun]) -> IngestRun:
    count = len(runs)
    return IngestRun(
        rate=sum(run.rate for run in runs) / count,
        api_cpu_per_1000=sum(run.api_cpu_per_1000 for run in runs) / count,
        postgres_cpu_per_1000=sum(run.postgres_cpu_per_1000 for run in runs) / count,
        worker_cpu_per_1000=sum(run.worker_cpu_per_1000 for run in runs) / count,
    )


def serving_process(base_url: str) -> psutil.Process:
    """The ``audittrail serve`` process listening on ``base_url``'s port (one API process: all its CPU)."""
    port = base_url.rsplit(":", 1)[1]
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if "serve" in cmdline and "--port" in cmdline and cmdline[cmdline.index("--port") + 1] == port:
            return process
    raise RuntimeError(f"no audittrail serve process on port {port}")


def ingest(
    servers: EmbeddedServers, base_url: str, worker: psutil.Process, key_id: str, secret: str, total: int
) -> IngestRun:
    async def through_api() -> float:
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
            jwt = await login(client, key_id, secret)
        return await ingest_over_http(base_url, jwt, total)

    api, postgres = serving_process(base_url), postmaster(servers)
    before = cpu_seconds(api), cpu_seconds(postgres), cpu_seconds(worker)
    rate = asyncio.run(through_api())
    after = cpu_seconds(api), cpu_seconds(postgres), cpu_seconds(worker)
    per_1000 = [(end - start) * 1000 / total for start, end in zip(before, after, strict=True)]
    return IngestRun(
        rate, api_cpu_per_1000=per_1000[0], postgres_cpu_per_1000=per_1000[1], worker_cpu_per_1000=per_1000[2]
    )


async def digests_reach(database_url: str, moment: datetime, timeout: float = 300) -> None:
    """Wait until the digests written cover every interval that ended before ``moment``."""
    connection = await asyncpg.connect(raw_url(database_url))
    deadline = time.monotonic() + timeout
    try:
        while (await connection.fetchval("SELECT max(interval_end) FROM audit_digests") or NEVER) < moment:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the digests did not reach {moment} within {timeout} s")
            await asyncio.sleep(0.2)
    finally:
        await connection.close()


def cpu_per_1000(run: IngestRun) -> str:
    return (
        f"{run.api_cpu_per_1000 * 1000:.0f} / {run.postgres_cpu_per_1000 * 1000:.0f}"
        f" / {run.worker_cpu_per_1000 * 1000:.0f} ms"
    )


WORKER_HEALTH_KEY = default_queue_name + health_check_key_suffix


def forget_worker(redis_url: str) -> None:
    """No health left by a worker before (a killed one leaves its key for an hour)."""
    client = redis.Redis.from_url(redis_url)
    client.delete(WORKER_HEALTH_KEY)
    client.close()


def wait_for_worker(redis_url: str, worker: psutil.Process, timeout: float = 240) -> None:
    """Until the worker runs its loop (arq records its health on its first beat, after startup): a
    worker starting up imports, and compiles where no bytecode is cached, for seconds of CPU, which
    would be counted against the round it started in."""
    client = redis.Redis.from_url(redis_url)
    deadline = time.monotonic() + timeout
    try:
        while not client.exists(WORKER_HEALTH_KEY):
            if not worker.is_running() or time.monotonic() > deadline:
                raise RuntimeError(f"the worker did not start within {timeout} s")
            time.sleep(0.2)
    finally:
        client.close()


def digest_interval_seconds() -> int:
    return int(os.environ.get("BENCH_DIGEST_INTERVAL_SECONDS", "1"))


def ingestion_with_and_without_digests(
    servers: EmbeddedServers, data_dir: str, total: int, rounds: int
) -> dict[str, list[IngestRun]]:
    _, key_id, secret = asyncio.run(setup_account(servers.database_url))
    interval = digest_interval_seconds()
    runs: dict[str, list[IngestRun]] = {"off": [], "on": []}
    # A loaded machine takes its time to start the API; the measurement starts once it is ready.
    with api_processes(servers, workers=1, ready_timeout=240) as base_url:
        for _ in range(rounds):
            for label, seconds in (("off", 86400), ("on", interval)):
                forget_worker(servers.redis_url)
                with worker_process(
                    servers, data_dir=data_dir, digest_interval_seconds=str(seconds), digest_grace_seconds="0.5"
                ) as worker:
                    wait_for_worker(servers.redis_url, psutil.Process(worker.pid))
                    time.sleep(2)  # the worker's startup crons
                    if label == "on":
                        # The events of the rounds before are digested before this round is measured.
                        asyncio.run(
                            digests_reach(servers.database_url, datetime.now(UTC) - timedelta(seconds=interval + 1))
                        )
                    runs[label].append(ingest(servers, base_url, psutil.Process(worker.pid), key_id, secret, total))
    return runs


def run(quick: bool) -> list[Measurement]:
    total = 20_000 if quick else 100_000
    rounds = int(os.environ.get("BENCH_DIGEST_ROUNDS", 2 if quick else 3))
    interval = digest_interval_seconds()
    events = interval_events(quick)
    with embedded_stack() as servers, tempfile.TemporaryDirectory(prefix="audittrail-bench-keys-") as data_dir:
        key = integrity.SigningKey.in_data_dir(Path(data_dir))
        runs = ingestion_with_and_without_digests(servers, data_dir, total, rounds)
        account_id, start = asyncio.run(seed_interval(servers.database_url, events))
        _, fetch = measure(servers, lambda: raw_fetch(servers.database_url, account_id, start))
        _, digest = measure(servers, lambda: write_digest(servers.database_url, account_id, start, key))
        checked, verify = measure(servers, lambda: verify_all(servers.database_url, key))
        raw_hash = asyncio.run(raw_sha256_seconds(servers.database_url, account_id))
    on, off = mean_of(runs["on"]), mean_of(runs["off"])
    for label in ("off", "on"):
        console.print(
            f"ingestion rounds, digests {label}: "
            + ", ".join(f"{run.rate:,.0f} ev/s" for run in runs[label])
            + "; CPU per 1,000 events (API / PostgreSQL / worker): "
            + ", ".join(cpu_per_1000(run) for run in runs[label]),
            highlight=False,
        )
    console.print(
        f"digest of {events:,}: {digest.seconds:.2f} s wall, CPU {digest.own_cpu:.2f} s here +"
        f" {digest.postgres_cpu:.2f} s PostgreSQL; verify: {checked / verify.seconds:,.0f} ev/s wall,"
        f" CPU {verify.own_cpu:.2f} s here + {verify.postgres_cpu:.2f} s PostgreSQL",
        highlight=False,
    )
    # The goal is for 1,000,000 events; a smaller interval is held to the same rate.
    digest_goal_ms = GOAL_SECONDS * 1000 * events / GOAL_EVENTS
    every = f"digests every {interval} s vs none"
    return [
        Measurement("digests", f"ingest ev/s, {every} ({total:,} events, mean of {rounds} alternating rounds)",
                    on.rate, off.rate, "ev/s", ">= 0.95x off", on.rate >= 0.95 * off.rate),
        Measurement("digests", f"API CPU per 1,000 events ingested, {every}",
                    on.api_cpu_per_1000 * 1000, off.api_cpu_per_1000 * 1000, "ms", "(reported)", True),
        Measurement("digests", f"PostgreSQL + worker CPU per 1,000 events ingested, {every}",
                    (on.postgres_cpu_per_1000 + on.worker_cpu_per_1000) * 1000,
                    (off.postgres_cpu_per_1000 + off.worker_cpu_per_1000) * 1000, "ms", "(reported)", True),
        Measurement("digests", f"one digest over {events:,} events, wall (raw: fetch of their id, hash)",
                    digest.seconds * 1000, fetch.seconds * 1000, "ms", f"<= {digest_goal_ms:,.0f} ms",
                    digest.seconds * 1000 <= digest_goal_ms),
        Measurement("digests", f"one digest over {events:,} events, CPU here + PostgreSQL (raw: the fetch's)",
                    digest.cpu * 1000, fetch.cpu * 1000, "ms", "(reported)", True),
        Measurement("digests", f"verify {checked:,} events, wall (raw: sha256 of id+body only)",
                    checked / verify.seconds, events / raw_hash, "ev/s", "(reported)", True),
        Measurement("digests", "verify CPU per event, here + PostgreSQL (raw: sha256 of id+body)",
                    verify.cpu / checked * 1e6, raw_hash / events * 1e6, "µs", "(reported)", True),
    ]  # fmt: skip


if __name__ == "__main__":
    run_alone(run, __doc__)
