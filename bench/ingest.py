"""Ingestion: auditTrailRecordEvents over HTTP vs asyncpg ``executemany`` (and COPY) of the same rows.

Also the latency of one audited mutation vs a bare starlette endpoint doing one INSERT, and the CPU
each side spends (the API processes' per batch and per request: the steadiest figure on a loaded
machine).  Ours and raw run in alternating rounds within one run.  Run alone with
``python -m bench.ingest [--quick]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import asyncpg
import httpx
import orjson
import psutil
from rich.progress import Progress

from api.accounts.accounts import create_account
from api.accounts.keys import create_key
from api.audit.hashing import event_hash
from api.audit.record import EventDraft, Resource, build_event, now_ms
from api.db import Database, raw_url
from api.embedded import EmbeddedServers
from api.models import EventType, Role
from bench.harness import (
    Measurement,
    api_processes,
    cpu_seconds,
    embedded_stack,
    free_port,
    median,
    percentile,
    run_alone,
    service_env,
    stop_process,
    wait_until_ready,
)

BATCH = 500
CONCURRENCY = 4
RECORD_EVENTS = "mutation($events: [AuditTrailEventInput!]!) { auditTrailRecordEvents(events: $events) { id } }"
ACTIONS = ["stack.update", "stack.create", "run.trigger", "policy.attach", "module.publish", "context.update"]
COLUMNS = [
    "id", "created_at", "account_id", "action", "actor", "actor_source", "event_type", "affected_resource_type",
    "affected_resource_id", "related_resource_type", "related_resource_id", "run_id", "run_stack_id", "context",
    "data", "remote_ip", "recorded_by", "recorded_at", "body", "event_hash",
]  # fmt: skip


def event_input(n: int, timestamp_ms: int) -> dict[str, Any]:
    return {
        "action": ACTIONS[n % len(ACTIONS)],
        "actor": f"github::user{n % 97}",
        "eventType": "UPDATE",
        "affectedResource": {"resourceType": "STACK", "resourceId": f"stack-{n % 211}"},
        "data": {"n": n, "reason": "benchmark load"},
        "context": {"source": "bench"},
        "remoteIP": "203.0.113.7",
        "timestamp": float(timestamp_ms),
    }


async def setup_account(database_url: str) -> tuple[str, str, str]:
    db = Database(database_url, pool_size=1)
    async with db.transaction() as session:
        account = await create_account(session, "bench", retention_days=30)
        key = await create_key(session, account.id, "bench ingest", Role.ADMIN)
    await db.dispose()
    return account.id, key.key.id, key.secret


async def login(client: httpx.AsyncClient, key_id: str, secret: str) -> str:
    response = await client.post(
        "/graphql",
        json={
            "query": "mutation($id: ID!, $s: String!) { apiKeyUser(id: $id, secret: $s) { jwt } }",
            "variables": {"id": key_id, "s": secret},
        },
    )
    return str(response.json()["data"]["apiKeyUser"]["jwt"])


async def ingest_over_http(base_url: str, jwt: str, total: int) -> float:
    """Events per second through the API, CONCURRENCY clients posting batches of BATCH."""
    batches = [
        [event_input(i, now_ms()) for i in range(start, min(total, start + BATCH))] for start in range(0, total, BATCH)
    ]
    queue: asyncio.Queue[list[dict[str, Any]]] = asyncio.Queue()
    for batch in batches:
        queue.put_nowait(batch)
    with Progress(transient=True) as progress:
        task = progress.add_task("ingest via GraphQL", total=total)

        async def client_loop() -> None:
            async with httpx.AsyncClient(
                base_url=base_url, timeout=60, headers={"Authorization": f"Bearer {jwt}"}
            ) as client:
                while not queue.empty():
                    batch = queue.get_nowait()
                    response = await client.post(
                        "/graphql", json={"query": RECORD_EVENTS, "variables": {"events": batch}}
                    )
                    body = response.json()
                    if body.get("errors"):
                        raise RuntimeError(body["errors"])
                    progress.advance(task, len(batch))

        started = time.perf_counter()
        await asyncio.gather(*(client_loop() for _ in range(CONCURRENCY)))
        return total / (time.perf_counter() - started)


def raw_rows(account_id: str, key_id: str, total: int) -> list[tuple[Any, ...]]:
    """The rows ``auditTrailRecordEvents`` writes for the same load, built (and hashed) before any clock starts."""
    rows = []
    for n in range(total):
        source = event_input(n, now_ms())
        draft = EventDraft(
            action=source["action"],
            actor=source["actor"],
            event_type=EventType.UPDATE,
            timestamp_ms=now_ms(),
            context=source["context"],
            data=source["data"],
            remote_ip=source["remoteIP"],
            affected_resource=Resource("STACK", f"stack-{n % 211}"),
            recorded_at_ms=now_ms(),
        )
        event = build_event(draft, account_id=account_id, account_name="bench", recorded_by=key_id)
        values = {
            **{column: getattr(event, column) for column in COLUMNS[:-1]},
            "event_hash": event_hash(event.id, event.body),
        }
        values["context"], values["data"] = orjson.dumps(event.context).decode(), orjson.dumps(event.data).decode()
        rows.append(tuple(values[column] for column in COLUMNS))
    return rows


async def raw_rate(database_url: str, rows: list[tuple[Any, ...]], write: RawWrite) -> float:
    """Events per second for ``write`` of ``rows`` in chunks of BATCH, CONCURRENCY connections."""
    chunks = [rows[start : start + BATCH] for start in range(0, len(rows), BATCH)]
    pool = await asyncpg.create_pool(raw_url(database_url), min_size=CONCURRENCY, max_size=CONCURRENCY)

    async def write_loop(worker: int) -> None:
        async with pool.acquire() as connection:
            for chunk in chunks[worker::CONCURRENCY]:
                await write(connection, chunk)

    started = time.perf_counter()
    await asyncio.gather(*(write_loop(worker) for worker in range(CONCURRENCY)))
    rate = len(rows) / (time.perf_counter() - started)
    await pool.close()
    return rate


RawWrite = Callable[[asyncpg.Connection, list[tuple[Any, ...]]], Awaitable[object]]
_PLACEHOLDERS = [f"${n}::jsonb" if column in ("context", "data") else f"${n}" for n, column in enumerate(COLUMNS, 1)]
_RAW_INSERT = f"INSERT INTO audit_events ({', '.join(COLUMNS)}) VALUES ({', '.join(_PLACEHOLDERS)})"


async def executemany_chunk(connection: asyncpg.Connection, chunk: list[tuple[Any, ...]]) -> None:
    """One transaction per chunk, as a batch of ours is one."""
    async with connection.transaction():
        await connection.executemany(_RAW_INSERT, chunk)


async def copy_chunk(connection: asyncpg.Connection, chunk: list[tuple[Any, ...]]) -> None:
    """COPY: faster than any INSERT, and no way to write the deliveries in the same statement."""
    await connection.copy_records_to_table("audit_events", records=chunk, columns=COLUMNS)


AUDITED_MUTATION = 'mutation { apiKeyCreate(input: {name: "bench", role: READER}) { id } }'
# A mutation on the transaction path (BEGIN, the change, its event, COMMIT): apiKeyCreate above is one
# statement (``AuditedMutation.run_in_one_statement``); most mutations are not.
TRANSACTION_MUTATION = (
    'mutation($name: String!) { savedFilterCreate(input: {name: $name, data: "{}", type: "auditTrailEntries",'
    " isPublic: false}) { id } }"
)
# The least any authenticated GraphQL request costs here: HTTP, token check with its key lookup, execution.
FLOOR_QUERY = "{ viewer { id } }"


async def request_latencies(
    client: httpx.AsyncClient, query: str, samples: int, *, unique_name: bool = False
) -> list[float]:
    """Each request's latency; with ``unique_name``, a fresh ``$name`` variable per request."""
    latencies = []
    for _ in range(samples):
        variables = {"name": f"bench-{uuid.uuid4().hex}"} if unique_name else None
        started = time.perf_counter()
        response = await client.post("/graphql", json={"query": query, "variables": variables})
        latencies.append((time.perf_counter() - started) * 1000)
        assert not response.json().get("errors"), response.text
    return latencies


async def raw_insert_latencies(client: httpx.AsyncClient, samples: int) -> list[float]:
    latencies = []
    for _ in range(samples):
        started = time.perf_counter()
        (await client.post("/insert")).raise_for_status()
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


@contextlib.contextmanager
def raw_insert_server(env: dict[str, str]) -> Iterator[tuple[str, psutil.Process]]:
    """``bench.raw_insert_app`` in its own uvicorn: its URL and its process (for its CPU)."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "bench.raw_insert_app:app", "--port", str(port), "--log-level", "warning"],
        env=env,
    )
    try:
        wait_until_ready(f"http://127.0.0.1:{port}/insert", what="raw insert app")  # GET: 405 once it is up
        yield f"http://127.0.0.1:{port}", psutil.Process(process.pid)
    finally:
        stop_process(process)


def server_process(base_url: str) -> psutil.Process:
    """The ``audittrail serve`` process listening at ``base_url`` (its workers are its children)."""
    port = base_url.rsplit(":", 1)[1]
    for candidate in psutil.process_iter(["cmdline"]):
        cmdline = candidate.info["cmdline"] or []
        if "serve" in cmdline and "--port" in cmdline and port in cmdline:
            return candidate
    raise RuntimeError(f"no audittrail serve process on port {port}")


@dataclass
class Side:
    """One side's figures summed over the rounds."""

    events: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    def cpu_ms_per(self, count: int) -> float:
        return 1000 * self.cpu_seconds / count if count else float("nan")


async def measure_rounds(
    servers: EmbeddedServers, account: tuple[str, str, str], api_url: str, raw_url_: str, raw_server: psutil.Process,
    quick: bool,
) -> dict[str, Side]:  # fmt: skip
    """Ours and raw in alternating rounds, so a change of the machine's load weighs on both alike."""
    account_id, key_id, secret = account
    rounds, per_round = (4, 5_000) if quick else (5, 40_000)
    samples = 50 if quick else 200
    api = server_process(api_url)
    sides = {name: Side() for name in ("ingest", "executemany", "copy", "mutation", "transaction", "floor", "insert")}
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as client:
        jwt = await login(client, key_id, secret)
    async with (
        httpx.AsyncClient(base_url=api_url, timeout=30, headers={"Authorization": f"Bearer {jwt}"}) as ours,
        httpx.AsyncClient(base_url=raw_url_, timeout=30) as raw,
    ):
        for _ in range(rounds):
            cpu = cpu_seconds(api)
            rate = await ingest_over_http(api_url, jwt, per_round)
            side = sides["ingest"]
            side.events, side.seconds = side.events + per_round, side.seconds + per_round / rate
            side.cpu_seconds += cpu_seconds(api) - cpu
            for name, write in (("executemany", executemany_chunk), ("copy", copy_chunk)):
                rows = raw_rows(account_id, key_id, per_round)  # fresh ids each time, built before the clock starts
                cpu = time.process_time()
                rate = await raw_rate(servers.database_url, rows, write)
                side = sides[name]
                side.events, side.seconds = side.events + per_round, side.seconds + per_round / rate
                side.cpu_seconds += time.process_time() - cpu
            for name, process, measure in (
                ("mutation", api, partial(request_latencies, ours, AUDITED_MUTATION, samples)),
                ("transaction", api, partial(request_latencies, ours, TRANSACTION_MUTATION, samples, unique_name=True)),
                ("floor", api, partial(request_latencies, ours, FLOOR_QUERY, samples)),
                ("insert", raw_server, partial(raw_insert_latencies, raw, samples)),
            ):
                cpu = cpu_seconds(process)
                sides[name].latencies += await measure()
                sides[name].cpu_seconds += cpu_seconds(process) - cpu
            await forget_saved_filters(servers.database_url, account_id)
    return sides


async def forget_saved_filters(database_url: str, account_id: str) -> None:
    """Between rounds, outside the clock: an account may keep 500 saved filters."""
    connection = await asyncpg.connect(raw_url(database_url))
    try:
        await connection.execute("DELETE FROM saved_filters WHERE account_id = $1", account_id)
    finally:
        await connection.close()


def run(quick: bool) -> list[Measurement]:
    with embedded_stack() as servers:
        account = asyncio.run(setup_account(servers.database_url))
        env = {**service_env(servers), "BENCH_ACCOUNT_ID": account[0]}
        with (
            api_processes(servers, workers=2, ready_timeout=240) as api_url,  # a loaded machine starts slowly
            raw_insert_server(env) as (raw_url_, raw_server),
        ):
            sides = asyncio.run(measure_rounds(servers, account, api_url, raw_url_, raw_server, quick))
    ingest, executemany, copy, mutation, transaction, floor, insert = (
        sides[name] for name in ("ingest", "executemany", "copy", "mutation", "transaction", "floor", "insert")
    )
    batches = ingest.events // BATCH
    requests = len(mutation.latencies)
    p50, p99 = median(mutation.latencies), percentile(mutation.latencies, 99)
    raw_p50, raw_p99 = median(insert.latencies), percentile(insert.latencies, 99)
    events = f"{ingest.events:,} in batches of {BATCH}, alternating rounds"
    return [
        Measurement("ingest", f"events/s ({events}) vs executemany", ingest.rate, executemany.rate, "ev/s",
                    ">= 0.6x raw", ingest.rate >= 0.6 * executemany.rate),
        Measurement("ingest", f"events/s ({events}) vs COPY", ingest.rate, copy.rate, "ev/s", "(reported)", True),
        Measurement("ingest", "CPU per batch: API processes vs executemany's client", ingest.cpu_ms_per(batches),
                    executemany.cpu_ms_per(batches), "ms CPU", "(reported)", True),
        Measurement("ingest", "audited mutation p50", p50, raw_p50, "ms", "<= 2x raw", p50 <= 2 * raw_p50),
        Measurement("ingest", "audited mutation p99", p99, raw_p99, "ms", "<= 2x raw", p99 <= 2 * raw_p99),
        Measurement("ingest", "audited mutation: CPU per request vs raw INSERT app's", mutation.cpu_ms_per(requests),
                    insert.cpu_ms_per(requests), "ms CPU", "(reported)", True),
        Measurement("ingest", "audited mutation on the transaction path (savedFilterCreate) p50",
                    median(transaction.latencies), raw_p50, "ms", "(reported)", True),
        Measurement("ingest", "audited mutation on the transaction path: CPU per request vs raw INSERT app's",
                    transaction.cpu_ms_per(requests), insert.cpu_ms_per(requests), "ms CPU", "(reported)", True),
        Measurement("ingest", f"floor: `{FLOOR_QUERY}` p50 vs raw INSERT p50", median(floor.latencies), raw_p50,
                    "ms", "(none: what any request costs)", True),
        Measurement("ingest", f"floor: `{FLOOR_QUERY}` CPU per request vs raw INSERT app's",
                    floor.cpu_ms_per(requests), insert.cpu_ms_per(requests), "ms CPU", "(reported)", True),
    ]  # fmt: skip


if __name__ == "__main__":
    run_alone(run, __doc__)
