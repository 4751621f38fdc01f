"""Export: ``/export`` events/s beside a raw ``COPY ... TO STDOUT`` of the same rows, and the API's memory.

1,000,000 events in one account (``--quick``: 100,000), vacuumed and checkpointed once loaded.  Raw
is asyncpg's ``COPY`` of the same column(s) in the same order and plan, written nowhere; ours is the
whole HTTP export read by a client; both clients connect before their clock starts.
Each is run ``ROUNDS`` times, interleaved, and its best round counts (a loaded machine only slows
rounds down).  Beside the rates, the servers' CPU per 1,000 events, the steadiest figure under load:
PostgreSQL's (backends and IO workers, not autovacuum or the checkpointer) and the API's for an
export, PostgreSQL's alone for the raw ``COPY``.
The API's RSS (the ``serve`` process tree, one worker) is sampled while the NDJSON export runs:
peak beside idle shows whether memory stays flat whatever the size.
Run alone with ``python -m bench.export [--quick]``.
"""

from __future__ import annotations

import asyncio
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import psutil

from api.db import raw_url
from bench.harness import Measurement, api_processes, embedded_stack, postgres_cpu_seconds, run_alone
from bench.load import BenchAccount, Span, create_accounts, generate_events
from bench.search import login

MB = 1024 * 1024
ROUNDS = 3
NEWEST_FIRST = "ORDER BY created_at DESC, id DESC"
CSV_COLUMNS = (
    "id, created_at, action, event_type, actor, affected_resource_type, affected_resource_id,"
    " related_resource_type, related_resource_id, remote_ip, body"
)


def serve_tree_rss_mb(port: int) -> float:
    """RSS of ``audittrail serve --port <port>`` and its children (the uvicorn worker)."""
    return sum(member.memory_info().rss for member in serve_tree(port)) / MB


def serve_tree(port: int) -> list[psutil.Process]:
    """``audittrail serve --port <port>`` and its children (the uvicorn worker)."""
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if "serve" in cmdline and str(port) in cmdline:
            return [process, *process.children(recursive=True)]
    raise RuntimeError(f"no serve process on port {port}")


def api_cpu_seconds(port: int) -> float:
    """User + system CPU of the API's process tree so far."""
    return sum(member.cpu_times().user + member.cpu_times().system for member in serve_tree(port))


@dataclass(frozen=True)
class Run:
    """One measured round: rows, wall seconds, and the servers' CPU seconds it cost."""

    rows: int
    seconds: float
    cpu_seconds: float

    @property
    def rate(self) -> float:
        return self.rows / self.seconds

    @property
    def cpu_ms_per_1000(self) -> float:
        return self.cpu_seconds / self.rows * 1_000_000


def measured(action: Callable[[], tuple[int, float]], cpu_now: Callable[[], float]) -> Run:
    before = cpu_now()
    rows, seconds = action()
    return Run(rows, seconds, cpu_now() - before)


def best(runs: list[Run]) -> Run:
    """The fastest round; its CPU figure is the lowest of all rounds (CPU, too, only grows under load)."""
    fastest = max(runs, key=lambda run: run.rate)
    return Run(fastest.rows, fastest.seconds, min(run.cpu_seconds for run in runs))


def timed_export(base_url: str, token: str, export_format: str, sample: bool) -> tuple[int, float, list[float]]:
    """(rows, seconds, RSS samples) of one whole export read by a client.

    As for the raw ``COPY`` (connected before its clock starts), the client and its connection are set up
    first: creating an ``httpx.Client`` (its TLS context) alone took 30-60 ms, a tenth of a 100,000-event
    ``COPY``.  The request, its authentication and the whole response are timed.  Like the ``COPY``'s
    sink, the client counts the lines in the pieces as they arrive (no re-chunking).
    """
    port = urllib.parse.urlsplit(base_url).port or 80
    samples: list[float] = []
    rows = 0
    last_sample = 0.0
    with httpx.Client(base_url=base_url, timeout=600) as client:
        client.get("/healthz").raise_for_status()  # opens the kept-alive connection the export then uses
        started = time.perf_counter()
        with client.stream(
            "GET", "/export", params={"format": export_format}, headers={"Authorization": f"Bearer {token}"}
        ) as response:
            response.raise_for_status()
            for chunk in response.iter_raw():
                rows += chunk.count(b"\n")
                if sample and time.perf_counter() - last_sample > 0.25:
                    samples.append(serve_tree_rss_mb(port))
                    last_sample = time.perf_counter()
        seconds = time.perf_counter() - started
    return rows - (1 if export_format == "csv" else 0), seconds, samples


async def timed_copy(database_url: str, pgdata: Path, account_id: str, columns: str, copy_format: str) -> Run:
    """The raw COPY of the same rows, in the same order, to a sink that keeps nothing; its CPU counted
    as the export's is (``postgres_cpu_seconds``).  Returns once its backend has exited."""
    # The plan the export runs with (api.db.SERIAL_PLAN): the account's index read in order.
    connection = await asyncpg.connect(raw_url(database_url), server_settings={"max_parallel_workers_per_gather": "0"})
    backend = psutil.Process(await connection.fetchval("SELECT pg_backend_pid()"))
    received = 0

    async def sink(chunk: bytes) -> None:
        nonlocal received
        received += chunk.count(b"\n")

    try:
        cpu_before, started = postgres_cpu_seconds(pgdata), time.perf_counter()
        await connection.copy_from_query(
            f"SELECT {columns} FROM audit_events WHERE account_id = $1 {NEWEST_FIRST}",
            account_id,
            output=sink,
            format=copy_format,
        )
        return Run(received, time.perf_counter() - started, postgres_cpu_seconds(pgdata) - cpu_before)
    finally:
        await connection.close()
        await asyncio.to_thread(backend.wait, 30)


async def settle(database_url: str) -> None:
    """VACUUM ANALYZE and CHECKPOINT the loaded rows, so no round pays for the load's leftovers
    (hint bits, autovacuum, dirty pages) and both sides read the same visibility map."""
    connection = await asyncpg.connect(raw_url(database_url))
    try:
        await connection.execute("VACUUM (ANALYZE) audit_events")
        await connection.execute("CHECKPOINT")
    finally:
        await connection.close()


def measure(base_url: str, database_url: str, pgdata: Path, account: BenchAccount) -> list[Measurement]:
    async def token() -> str:
        async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
            return await login(client, account)

    jwt = asyncio.run(token())
    port = urllib.parse.urlsplit(base_url).port or 80
    timed_export(base_url, jwt, "ndjson", sample=False)  # warm the caches both sides read from
    idle_rss = serve_tree_rss_mb(port)
    rss_samples: list[float] = []

    def exported(export_format: str) -> tuple[int, float]:
        rows, seconds, samples = timed_export(base_url, jwt, export_format, sample=True)
        rss_samples.extend(samples)
        return rows, seconds

    def copied(columns: str, copy_format: str) -> Run:
        return asyncio.run(timed_copy(database_url, pgdata, account.account_id, columns, copy_format))

    def both_servers() -> float:
        return postgres_cpu_seconds(pgdata) + api_cpu_seconds(port)

    runs: dict[str, list[Run]] = {"ndjson": [], "raw body": [], "csv": [], "raw csv": []}
    for _ in range(ROUNDS):
        runs["ndjson"].append(measured(lambda: exported("ndjson"), both_servers))
        runs["raw body"].append(copied("body", "text"))
        runs["csv"].append(measured(lambda: exported("csv"), both_servers))
        runs["raw csv"].append(copied(CSV_COLUMNS, "csv"))
    ndjson, raw, csv, raw_csv = (best(runs[name]) for name in ("ndjson", "raw body", "csv", "raw csv"))
    peak = max(rss_samples) if rss_samples else idle_rss
    return [
        Measurement("export", f"NDJSON events/s ({ndjson.rows:,} rows) vs COPY body", ndjson.rate, raw.rate,
                    "events/s", ">= 0.5x raw", ndjson.rate >= 0.5 * raw.rate),
        Measurement("export", f"CSV events/s ({csv.rows:,} rows) vs COPY csv", csv.rate, raw_csv.rate, "events/s",
                    ">= 0.5x raw", csv.rate >= 0.5 * raw_csv.rate),
        Measurement("export", "NDJSON server CPU per 1,000 events (PG + API) vs COPY body (PG)",
                    ndjson.cpu_ms_per_1000, raw.cpu_ms_per_1000, "ms", "(none: reported)", True),
        Measurement("export", "CSV server CPU per 1,000 events (PG + API) vs COPY csv (PG)",
                    csv.cpu_ms_per_1000, raw_csv.cpu_ms_per_1000, "ms", "(none: reported)", True),
        Measurement("export", f"API RSS peak while exporting {ndjson.rows:,} (all rounds) vs idle", peak, idle_rss,
                    "MB", "<= idle + 100 MB", peak <= idle_rss + 100),
    ]  # fmt: skip


def run(quick: bool) -> list[Measurement]:
    total = 100_000 if quick else 1_000_000
    with embedded_stack() as servers:
        accounts = asyncio.run(create_accounts(servers.database_url))
        now = datetime.now(UTC)
        spans = [Span(now - timedelta(days=20), now, total)]
        asyncio.run(generate_events(servers.database_url, accounts, spans, only_account=accounts[0]))
        asyncio.run(settle(servers.database_url))
        with api_processes(servers, workers=1, ready_timeout=180) as base_url:  # a loaded machine starts it slowly
            assert servers.postgres is not None, "the benchmark starts its own PostgreSQL"
            return measure(base_url, servers.database_url, servers.postgres.pgdata, accounts[0])


if __name__ == "__main__":
    run_alone(run, __doc__)
