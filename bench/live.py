"""Live tail: how long after commit a subscriber gets an event, beside a bare LISTEN/NOTIFY loop.

N subscribers (``auditTrailEntryAdded(input: {})`` over graphql-transport-ws, each on its own
websocket) tail one account of ``audittrail serve`` (one API process: it holds the LISTEN and
every subscriber) while events are ingested at R events/s in batches of 25.  An event's latency
is its arrival at a subscriber minus the moment its ``auditTrailRecordEvents`` call answered
(so after commit; an event that arrives before the answer counts 0).  Beside it, in the same run
on the same database: a bare LISTEN/NOTIFY loop (one asyncpg connection NOTIFYing at the same
batch rate, another LISTENing; from the NOTIFY's return to its receipt), and the recording call's
own duration (what a writer pays from sending a batch to its commit being answered).

The API runs twice in the run: with shared frames (the default: each event executed and encoded
once per distinct document) and with ``AUDITTRAIL_LIVE_SHARED_FRAMES=false`` (strawberry's own
per-subscriber execution).  Besides the latencies, each reports the API process's CPU time per
entry sent (user + system, over the whole stream): the steadiest figure on a loaded machine.
Run alone with ``python -m bench.live [--quick]``.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass

import asyncpg
import httpx
import orjson
import psutil
from websockets.asyncio.client import ClientConnection, connect

from api.db import raw_url
from api.embedded import EmbeddedServers
from bench.documents import cpu_seconds
from bench.harness import (
    Measurement,
    embedded_stack,
    free_port,
    percentile,
    run_alone,
    service_env,
    stop_process,
    wait_until_ready,
)
from bench.load import BenchAccount, create_accounts

BATCH = 25
SUBSCRIBE = "subscription { auditTrailEntryAdded(input: {}) { id } }"
RECORD_EVENTS = "mutation($events: [AuditTrailEventInput!]!) { auditTrailRecordEvents(events: $events) { id } }"
LOGIN = "mutation($id: ID!, $secret: String!) { apiKeyUser(id: $id, secret: $secret) { jwt } }"


async def subscriber(base_url: str, jwt: str, stack: AsyncExitStack) -> ClientConnection:
    websocket = await stack.enter_async_context(
        connect(base_url.replace("http", "ws", 1) + "/graphql", subprotocols=["graphql-transport-ws"], max_size=None)  # type: ignore[list-item]  # a NewType of str
    )
    await websocket.send(
        orjson.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {jwt}"}}).decode()
    )
    assert orjson.loads(await websocket.recv())["type"] == "connection_ack"
    await websocket.send(orjson.dumps({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIBE}}).decode())
    return websocket


async def read_all(websocket: ClientConnection, total: int, arrivals: dict[str, float]) -> None:
    while len(arrivals) < total:
        message = orjson.loads(await websocket.recv())
        if message["type"] != "next" or "errors" in message["payload"]:
            raise RuntimeError(f"subscription ended: {message}")
        arrivals[message["payload"]["data"]["auditTrailEntryAdded"]["id"]] = time.perf_counter()


async def wait_for_subscribers(client: httpx.AsyncClient, count: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        metrics = (await client.get("/metrics")).text
        lines = [line for line in metrics.splitlines() if line.startswith("audittrail_live_subscribers ")]
        if lines and float(lines[0].split()[1]) >= count:
            return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"{count} subscribers never registered")


@dataclass(frozen=True)
class LiveRun:
    latencies_ms: list[float]
    """Each event's latency at each subscriber."""
    calls_ms: list[float]
    """Each recording call's own duration."""
    cpu_us_per_entry: float
    """The API process's CPU time from the first recording call to the last entry's arrival, per entry sent."""


@contextmanager
def api_process(servers: EmbeddedServers, *, shared_frames: bool) -> Iterator[tuple[str, psutil.Process]]:
    """``audittrail serve`` in one process (all of the fan-out's CPU is its own); its URL and process."""
    port = free_port()
    environment = {**service_env(servers), "AUDITTRAIL_LIVE_SHARED_FRAMES": str(shared_frames).lower()}
    process = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "serve", "--port", str(port), "--workers", "1", "--no-worker"],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(f"{base_url}/readyz", what="API")
        yield base_url, psutil.Process(process.pid)
    finally:
        stop_process(process)


async def live_latencies(
    base_url: str, server: psutil.Process, account: BenchAccount, subscribers: int, rate: int, seconds: float
) -> LiveRun:
    """Each event's latency at each subscriber, each recording call's own duration (ms), the server's CPU."""
    total = int(rate * seconds) // BATCH * BATCH
    calls: list[float] = []
    returned: dict[str, float] = {}
    arrivals: list[dict[str, float]] = [{} for _ in range(subscribers)]
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client, AsyncExitStack() as stack:
        login = await client.post(
            "/graphql", json={"query": LOGIN, "variables": {"id": account.key_id, "secret": account.key_secret}}
        )
        jwt = login.json()["data"]["apiKeyUser"]["jwt"]
        client.headers["Authorization"] = f"Bearer {jwt}"
        websockets = [await subscriber(base_url, jwt, stack) for _ in range(subscribers)]
        await wait_for_subscribers(client, subscribers)
        readers = [asyncio.create_task(read_all(ws, total, got)) for ws, got in zip(websockets, arrivals, strict=True)]
        events = [{"action": "stack.update", "actor": "bench::live", "eventType": "UPDATE"}] * BATCH
        started = time.perf_counter()
        cpu_started = cpu_seconds(server)
        for number in range(total // BATCH):
            await asyncio.sleep(max(0.0, started + number * BATCH / rate - time.perf_counter()))
            sent = time.perf_counter()
            answer = await client.post("/graphql", json={"query": RECORD_EVENTS, "variables": {"events": events}})
            answered = time.perf_counter()
            calls.append((answered - sent) * 1000)
            returned.update((entry["id"], answered) for entry in answer.json()["data"]["auditTrailRecordEvents"])
        await asyncio.wait_for(asyncio.gather(*readers), timeout=600)
        cpu_us = (cpu_seconds(server) - cpu_started) * 1_000_000
    latencies = [max(0.0, at - returned[event_id]) * 1000 for got in arrivals for event_id, at in got.items()]
    return LiveRun(latencies, calls, cpu_us / (total * subscribers))


async def raw_latencies(database_url: str, rate: int, seconds: float) -> list[float]:
    """NOTIFY at the batch rate, LISTEN on another connection: the floor any feed on PostgreSQL pays."""
    batches = int(rate * seconds) // BATCH
    sent: dict[str, float] = {}
    received: dict[str, float] = {}
    done = asyncio.Event()
    listener = await asyncpg.connect(raw_url(database_url))
    notifier = await asyncpg.connect(raw_url(database_url))

    def heard(connection: object, pid: int, channel: str, payload: str) -> None:
        received[payload] = time.perf_counter()
        if len(received) == batches:
            done.set()

    try:
        await listener.add_listener("bench_raw", heard)
        started = time.perf_counter()
        for number in range(batches):
            await asyncio.sleep(max(0.0, started + number * BATCH / rate - time.perf_counter()))
            await notifier.execute("SELECT pg_notify('bench_raw', $1)", str(number))
            sent[str(number)] = time.perf_counter()
        await asyncio.wait_for(done.wait(), timeout=60)
    finally:
        await listener.close()
        await notifier.close()
    return [max(0.0, received[key] - at) * 1000 for key, at in sent.items()]


def run(quick: bool) -> list[Measurement]:
    subscribers, rate, seconds = (10, 100, 3.0) if quick else (50, 500, 5.0)
    runs: dict[bool, LiveRun] = {}
    with embedded_stack() as servers:
        account = asyncio.run(create_accounts(servers.database_url))[0]
        raw = asyncio.run(raw_latencies(servers.database_url, rate, seconds))
        for shared_frames in (True, False):
            with api_process(servers, shared_frames=shared_frames) as (base_url, server):
                runs[shared_frames] = asyncio.run(live_latencies(base_url, server, account, subscribers, rate, seconds))
    shared, plain = runs[True], runs[False]
    label = f"fan-out latency, {subscribers} subscribers at {rate} events/s"
    return [
        Measurement("live", f"{label}, p50", percentile(shared.latencies_ms, 50), percentile(raw, 50), "ms",
                    "reported (raw: bare LISTEN/NOTIFY)", True),
        Measurement("live", f"{label}, p95", percentile(shared.latencies_ms, 95), percentile(raw, 95), "ms",
                    "reported (raw: bare LISTEN/NOTIFY)", True),
        Measurement("live", f"{label}, p50 beside the recording call", percentile(shared.latencies_ms, 50),
                    percentile(shared.calls_ms, 50), "ms", "reported (raw: auditTrailRecordEvents of 25)", True),
        Measurement("live", f"{label}, p50 beside strawberry's per-subscriber path",
                    percentile(shared.latencies_ms, 50), percentile(plain.latencies_ms, 50), "ms",
                    "reported (raw: AUDITTRAIL_LIVE_SHARED_FRAMES=false)", True),
        Measurement("live", f"{label}, p95 beside strawberry's per-subscriber path",
                    percentile(shared.latencies_ms, 95), percentile(plain.latencies_ms, 95), "ms",
                    "reported (raw: AUDITTRAIL_LIVE_SHARED_FRAMES=false)", True),
        Measurement("live", "API CPU per entry sent, shared frames beside strawberry's per-subscriber path",
                    shared.cpu_us_per_entry, plain.cpu_us_per_entry, "µs CPU", "at most 0.5x",
                    shared.cpu_us_per_entry <= 0.5 * plain.cpu_us_per_entry),
    ]  # fmt: skip


if __name__ == "__main__":
    run_alone(run, __doc__)
