"""Export: ``/export`` events/s beside a raw ``COPY ... TO STDOUT`` of the same rows, and the API's memory.

1,000,000 events in one account (``--quick``: 100,000).  Raw is asyncpg's ``COPY`` of the same
column(s) in the same order, written nowhere; ours is the whole HTTP export read by a client.
The API's RSS (the ``serve`` process tree, one worker) is sampled while the NDJSON export runs:
peak beside idle shows whether memory stays flat whatever the size.
Run alone with ``python -m bench.export [--quick]``.
"""

from __future__ import annotations

import asyncio
import time
import urllib.parse
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import psutil

from api.db import raw_url
from bench.harness import Measurement, api_processes, embedded_stack, run_alone
from bench.load import BenchAccount, Span, create_accounts, generate_events
from bench.search import login

MB = 1024 * 1024
NEWEST_FIRST = "ORDER BY created_at DESC, id DESC"
CSV_COLUMNS = (
    "id, created_at, action, event_type, actor, affected_resource_type, affected_resource_id,"
    " related_resource_type, related_resource_id, remote_ip, body"
)


def serve_tree_rss_mb(port: int) -> float:
    """RSS of ``audittrail serve --port <port>`` and its children (the uvicorn worker)."""
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if "serve" in cmdline and str(port) in cmdline:
            tree = [process, *process.children(recursive=True)]
            return sum(p.memory_info().rss for p in tree) / MB
    raise RuntimeError(f"no serve process on port {port}")


def timed_export(base_url: str, token: str, export_format: str, sample: bool) -> tuple[int, float, list[float]]:
    """(rows, seconds, RSS samples) of one whole export read by a client."""
    port = urllib.parse.urlsplit(base_url).port or 80
    samples: list[float] = []
    rows = 0
    started = time.perf_counter()
    last_sample = 0.0
    with (
        httpx.Client(base_url=base_url, timeout=600) as client,
        client.stream(
            "GET", "/export", params={"format": export_format}, headers={"Authorization": f"Bearer {token}"}
        ) as response,
    ):
        response.raise_for_status()
        for chunk in response.iter_bytes(1 << 20):
            rows += chunk.count(b"\n")
            if sample and time.perf_counter() - last_sample > 0.25:
                samples.append(serve_tree_rss_mb(port))
                last_sample = time.perf_counter()
    seconds = time.perf_counter() - started
    return rows - (1 if export_format == "csv" else 0), seconds, samples


async def timed_copy(database_url: str, account_id: str, columns: str, copy_format: str) -> tuple[int, float]:
    """(rows, seconds) of the raw COPY of the same rows, in the same order, to a sink that keeps nothing."""
    connection = await asyncpg.connect(raw_url(database_url))
    received = 0

    async def sink(chunk: bytes) -> None:
        nonlocal received
        received += chunk.count(b"\n")

    try:
        started = time.perf_counter()
        await connection.copy_from_query(
            f"SELECT {columns} FROM audit_events WHERE account_id = $1 {NEWEST_FIRST}",
            account_id,
            output=sink,
            format=copy_format,
        )
        return received, time.perf_counter() - started
    finally:
        await connection.close()


def measure(base_url: str, database_url: str, account: BenchAccount) -> list[Measurement]:
    async def token() -> str:
        async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
            return await login(client, account)

    jwt = asyncio.run(token())
    port = urllib.parse.urlsplit(base_url).port or 80
    timed_export(base_url, jwt, "ndjson", sample=False)  # warm the caches both sides read from
    idle_rss = serve_tree_rss_mb(port)
    rows, seconds, samples = timed_export(base_url, jwt, "ndjson", sample=True)
    raw_rows, raw_seconds = asyncio.run(timed_copy(database_url, account.account_id, "body", "text"))
    csv_rows, csv_seconds, _ = timed_export(base_url, jwt, "csv", sample=False)
    raw_csv_rows, raw_csv_seconds = asyncio.run(timed_copy(database_url, account.account_id, CSV_COLUMNS, "csv"))
    ndjson_rate, raw_rate = rows / seconds, raw_rows / raw_seconds
    csv_rate, raw_csv_rate = csv_rows / csv_seconds, raw_csv_rows / raw_csv_seconds
    peak = max(samples) if samples else idle_rss
    return [
        Measurement("export", f"NDJSON events/s ({rows:,} rows) vs COPY body", ndjson_rate, raw_rate, "events/s",
                    ">= 0.5x raw", ndjson_rate >= 0.5 * raw_rate),
        Measurement("export", f"CSV events/s ({csv_rows:,} rows) vs COPY csv", csv_rate, raw_csv_rate, "events/s",
                    "(none: reported)", True),
        Measurement("export", f"API RSS peak while exporting {rows:,} vs idle", peak, idle_rss, "MB",
                    "<= idle + 100 MB", peak <= idle_rss + 100),
    ]  # fmt: skip


def run(quick: bool) -> list[Measurement]:
    total = 100_000 if quick else 1_000_000
    with embedded_stack() as servers:
        accounts = asyncio.run(create_accounts(servers.database_url))
        now = datetime.now(UTC)
        spans = [Span(now - timedelta(days=20), now, total)]
        asyncio.run(generate_events(servers.database_url, accounts, spans, only_account=accounts[0]))
        with api_processes(servers, workers=1, ready_timeout=180) as base_url:  # a loaded machine starts it slowly
            return measure(base_url, servers.database_url, accounts[0])


if __name__ == "__main__":
    run_alone(run, __doc__)
