"""Digests: what signing costs ingestion, one digest over a large interval, and verification speed.

1. Ingestion over HTTP (``bench.ingest``'s load, one API process) with a worker digesting every second ("on")
   vs the same worker whose first interval never closes ("off").
2. One digest over ``EVENTS`` events recorded in one interval (seeded by one ``INSERT ... SELECT
   generate_series``; ``--quick``: 100,000, full: 1,000,000), written as the cron writes it (digest
   events off: see docs/design.md on their size), beside a bare asyncpg fetch of the same (id, hash) rows.
3. ``verify_database`` over those events (every body re-hashed, every column compared, the Merkle
   root recomputed) in events/s, beside raw ``hashlib.sha256`` over the same ids and bodies.
Run alone with ``python -m bench.digests [--quick]``.
"""

from __future__ import annotations

import asyncio
import hashlib
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
from ulid import ULID

from api import integrity
from api.db import Database, raw_url
from api.integrity.digester import AccountToDigest, write_next_digest
from bench.harness import Measurement, api_processes, console, embedded_stack, run_alone, worker_process
from bench.ingest import ingest_over_http, login, setup_account

INTERVAL_SECONDS = 3600

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
    await connection.execute(SEED, account_id, created_at, interval_start, id_prefix, str(created_ms), events)
    await connection.execute("ANALYZE audit_events")
    await connection.close()
    return account_id, interval_start


async def raw_fetch_seconds(database_url: str, account_id: str, start: datetime) -> float:
    connection = await asyncpg.connect(raw_url(database_url))
    started = time.perf_counter()
    await connection.fetch(
        "SELECT id, event_hash FROM audit_events WHERE account_id = $1 AND recorded_at >= $2 AND recorded_at < $3",
        account_id,
        start,
        start + timedelta(seconds=INTERVAL_SECONDS),
    )
    elapsed = time.perf_counter() - started
    await connection.close()
    return elapsed


async def digest_seconds(database_url: str, account_id: str, start: datetime, key: integrity.SigningKey) -> float:
    db = Database(database_url, pool_size=1)
    schedule = integrity.DigestSchedule(interval_seconds=INTERVAL_SECONDS, grace_seconds=60)
    account = AccountToDigest(account_id, "digested", records_digest_events=False)
    started = time.perf_counter()
    async with db.transaction() as session:
        digest = await write_next_digest(session, account, key, schedule, datetime.now(UTC))
    elapsed = time.perf_counter() - started
    await db.dispose()
    assert digest is not None and digest.statement.interval_start == start
    return elapsed


async def verify_seconds(database_url: str, key: integrity.SigningKey) -> tuple[float, int]:
    db = Database(database_url, pool_size=1)
    accounts = await integrity.accounts_to_verify(db, "digested")
    started = time.perf_counter()
    report = await integrity.verify_database(db, accounts, {key.public.key_id: key.public})
    elapsed = time.perf_counter() - started
    await db.dispose()
    assert report.is_clean, report.problems[:5]
    return elapsed, report.events_checked


async def raw_sha256_seconds(database_url: str, account_id: str) -> float:
    connection = await asyncpg.connect(raw_url(database_url))
    rows = await connection.fetch("SELECT id, body FROM audit_events WHERE account_id = $1", account_id)
    await connection.close()
    pairs = [(row["id"].encode(), row["body"].encode()) for row in rows]
    started = time.perf_counter()
    for event_id, body in pairs:
        hashlib.sha256(event_id + body).digest()
    return time.perf_counter() - started


def ingest_rate(base_url: str, key_id: str, secret: str, total: int) -> float:
    async def through_api() -> float:
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
            jwt = await login(client, key_id, secret)
        return await ingest_over_http(base_url, jwt, total)

    return asyncio.run(through_api())


def run(quick: bool) -> list[Measurement]:
    total = 20_000 if quick else 100_000
    events = 100_000 if quick else 1_000_000
    with embedded_stack() as servers, tempfile.TemporaryDirectory(prefix="audittrail-bench-keys-") as data_dir:
        key = integrity.SigningKey.in_data_dir(Path(data_dir))
        account_id, start = asyncio.run(seed_interval(servers.database_url, events))
        raw_fetch = asyncio.run(raw_fetch_seconds(servers.database_url, account_id, start))
        digest = asyncio.run(digest_seconds(servers.database_url, account_id, start, key))
        verify, checked = asyncio.run(verify_seconds(servers.database_url, key))
        raw_hash = asyncio.run(raw_sha256_seconds(servers.database_url, account_id))
        console.print(f"digest {digest:.2f} s, verify {checked / verify:,.0f} ev/s", highlight=False)
        _, key_id, secret = asyncio.run(setup_account(servers.database_url))
        rates = {}
        # A loaded machine takes its time to start the API; the measurement starts once it is ready.
        with api_processes(servers, workers=1, ready_timeout=240) as base_url:
            for label, interval in (("off", "86400"), ("on", "1"), ("off again", "86400")):
                with worker_process(
                    servers, data_dir=data_dir, digest_interval_seconds=interval, digest_grace_seconds="0.5"
                ):
                    time.sleep(2)  # the worker's startup crons
                    rates[label] = ingest_rate(base_url, key_id, secret, total)
        off = (rates["off"] + rates["off again"]) / 2
    return [
        Measurement("digests", f"ingest ev/s, digests every 1 s vs none ({total:,} events, off = mean of 2 runs)",
                    rates["on"], off, "ev/s", ">= 0.95x off", rates["on"] >= 0.95 * off),
        Measurement("digests", f"one digest over {events:,} events (raw: fetch of their id, hash)", digest * 1000,
                    raw_fetch * 1000, "ms", "<= 5000 ms", digest <= 5),
        Measurement("digests", f"verify {checked:,} events (raw: sha256 of id+body only)", checked / verify,
                    events / raw_hash, "ev/s", "(reported)", True),
    ]  # fmt: skip


if __name__ == "__main__":
    run_alone(run, __doc__)
