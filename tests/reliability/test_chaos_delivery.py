"""Chaos delivery: events recorded through the API while the receiver fails half the time and hangs
sometimes, workers are SIGKILLed and restarted, Redis is flushed and restarted, and PostgreSQL is
restarted under the running API.  Afterwards every event has reached the receiver, signed.
"""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import pytest
from redis.asyncio import Redis
from sqlalchemy import text

from api.db import Database
from api.integrity.statement import DIGEST_ACTION
from api.models import Role
from tests.receivers import ReceivedRequest, Reply, running_receiver
from tests.reliability.conftest import sizes
from tests.reliability.stack import (
    CANARY_HEADER_NAME,
    CANARY_HEADER_VALUE,
    CANARY_WEBHOOK_SECRET,
    WEBHOOK_TIMEOUT_SECONDS,
    Stack,
)
from tests.reliability.verifiers import verify_github, verify_standard_webhooks

RECORD = "mutation($events: [AuditTrailEventInput!]!) { auditTrailRecordEvents(events: $events) { id } }"
SET_WEBHOOK = "mutation($input: AuditTrailWebhookInput!) { auditTrailSetWebhook(input: $input) { enabled } }"
FAILURE_RATE = 0.5
HANG_RATE = 0.03
BATCH_SIZE = 25
RECORDERS = 4
WORKERS = 2


@dataclass(frozen=True)
class ChaosSize:
    events: int
    seconds: float
    kill_every_seconds: float
    postgres_down_seconds: float


@dataclass
class ChaosReceiver:
    """Answers 500 to a random half, hangs past the worker's timeout on a few, 200 to the rest;
    verifies every request's signatures both ways as it arrives."""

    accepted: list[ReceivedRequest] = field(default_factory=list)
    failed_with_500: int = 0
    hung: int = 0
    bad_github_signatures: int = 0
    bad_standard_signatures: int = 0
    requests: int = 0
    rng: random.Random = field(default_factory=lambda: random.Random(20261125))

    def reply(self, request: ReceivedRequest) -> Reply:
        self.requests += 1
        if not verify_github(CANARY_WEBHOOK_SECRET, request.body, request.header("X-Signature-256")):
            self.bad_github_signatures += 1
        if not verify_standard_webhooks(CANARY_WEBHOOK_SECRET, request.body, request.headers):
            self.bad_standard_signatures += 1
        if b'"audit_trail_webhook.set"' in request.body:
            return Reply()  # verify-on-save of the set-up
        roll = self.rng.random()
        if roll < HANG_RATE:
            self.hung += 1
            return Reply(status=200, delay_seconds=WEBHOOK_TIMEOUT_SECONDS + 0.5)
        if roll < HANG_RATE + FAILURE_RATE:
            self.failed_with_500 += 1
            return Reply(status=500, body=b"chaos")
        self.accepted.append(request)
        return Reply()


@dataclass
class Faults:
    worker_kills: int = 0
    worker_exits_unasked: int = 0
    redis_flushes: int = 0
    redis_restarts: int = 0
    postgres_restarts: int = 0
    answers_while_postgres_down: Counter[str] = field(default_factory=Counter)
    readyz_while_postgres_down: set[int] = field(default_factory=set)


@dataclass
class Recording:
    event_ids: set[str] = field(default_factory=set)
    batches_retried: int = 0
    error_codes: Counter[str] = field(default_factory=Counter)
    http_statuses: Counter[int] = field(default_factory=Counter)
    transport_errors: Counter[str] = field(default_factory=Counter)


class Workers:
    """Worker processes kept running: killed ones are restarted, as a process supervisor would."""

    def __init__(self, stack: Stack, count: int, faults: Faults) -> None:
        self.stack = stack
        self.faults = faults
        self.processes: list[subprocess.Popen[bytes]] = [stack.start_worker(f"{n}") for n in range(count)]
        self.starts = count

    def kill_one(self, index: int) -> None:
        slot = index % len(self.processes)
        process = self.processes[slot]
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait()
            self.faults.worker_kills += 1
        self._restart(slot)

    def revive(self) -> None:
        for slot, process in enumerate(self.processes):
            if process.poll() is not None:
                self.faults.worker_exits_unasked += 1
                self._restart(slot)

    def _restart(self, slot: int) -> None:
        self.starts += 1
        self.processes[slot] = self.stack.start_worker(f"{slot}")

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def event_batch(first_seq: int, count: int) -> list[dict[str, Any]]:
    return [
        {
            "action": "chaos.recorded",
            "actor": "chaos::monkey",
            "eventType": "CREATE",
            "affectedResource": {"resourceType": "CHAOS_SEQ", "resourceId": str(seq)},
            "data": {"seq": seq},
        }
        for seq in range(first_seq, first_seq + count)
    ]


async def record_all(stack: Stack, token: str, size: ChaosSize, recording: Recording) -> None:
    """Batches at a steady pace over ``size.seconds``; a failed batch is sent again until it is taken."""
    batch_starts = list(range(0, size.events, BATCH_SIZE))
    interval = size.seconds / len(batch_starts)
    started = time.monotonic()
    deadline = started + size.seconds + 90
    pending: asyncio.Queue[int] = asyncio.Queue()
    for first_seq in batch_starts:
        pending.put_nowait(first_seq)

    async def recorder(client: httpx.AsyncClient) -> None:
        while not pending.empty():
            first_seq = pending.get_nowait()
            due = started + (first_seq // BATCH_SIZE) * interval
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            while True:
                assert time.monotonic() < deadline, f"batch {first_seq} was never taken: {recording}"
                count = min(BATCH_SIZE, size.events - first_seq)
                try:
                    response = await stack.gql(client, RECORD, {"events": event_batch(first_seq, count)}, token=token)
                except httpx.HTTPError as error:
                    recording.transport_errors[type(error).__name__] += 1
                    await asyncio.sleep(0.2)
                    continue
                recording.http_statuses[response.status_code] += 1
                body = response.json()
                if not body.get("errors"):
                    recording.event_ids.update(entry["id"] for entry in body["data"]["auditTrailRecordEvents"])
                    break
                recording.error_codes.update(error.get("extensions", {}).get("code", "") for error in body["errors"])
                recording.batches_retried += 1
                await asyncio.sleep(0.2)

    async with httpx.AsyncClient(timeout=30) as client:
        await asyncio.gather(*(recorder(client) for _ in range(RECORDERS)))


async def inject_faults(stack: Stack, workers: Workers, size: ChaosSize, faults: Faults, token: str) -> None:
    """SIGKILL a worker every few seconds; flush Redis, restart Redis, restart PostgreSQL once each."""
    started = time.monotonic()
    once = {0.25: "flush redis", 0.45: "restart redis", 0.65: "restart postgres"}
    next_kill = started + size.kill_every_seconds
    kills = 0
    injected: list[asyncio.Task[None]] = []
    async with httpx.AsyncClient(timeout=10) as client:
        while (elapsed := time.monotonic() - started) < size.seconds:
            workers.revive()
            if time.monotonic() >= next_kill:
                workers.kill_one(kills)
                kills += 1
                next_kill += size.kill_every_seconds
            for moment, fault in list(once.items()):
                if elapsed >= moment * size.seconds:
                    del once[moment]
                    # Alongside the kills: a database restart takes seconds and the kills go on.
                    injected.append(asyncio.create_task(inject(stack, fault, faults, size, client, token)))
            await asyncio.sleep(0.2)
        await asyncio.gather(*injected)
    assert not once, f"faults not injected: {once}"


async def inject(
    stack: Stack, fault: str, faults: Faults, size: ChaosSize, client: httpx.AsyncClient, token: str
) -> None:
    if fault == "flush redis":
        redis = Redis.from_url(stack.redis.url)
        await redis.flushall()
        await redis.aclose()
        faults.redis_flushes += 1
    elif fault == "restart redis":
        url = stack.redis.url
        await stack.restart_redis()
        assert stack.redis.url == url
        faults.redis_restarts += 1
    else:
        await stack.stop_postgres()
        down_until = time.monotonic() + size.postgres_down_seconds
        while time.monotonic() < down_until:
            readyz = await client.get(f"{stack.url}/readyz")
            faults.readyz_while_postgres_down.add(readyz.status_code)
            response = await stack.gql(client, "{ viewer { id } }", token=token)
            faults.answers_while_postgres_down[f"HTTP {response.status_code}"] += 1
            for error in response.json().get("errors") or []:
                faults.answers_while_postgres_down[error.get("extensions", {}).get("code", "no code")] += 1
            await asyncio.sleep(0.25)
        await stack.start_postgres()
        faults.postgres_restarts += 1


async def wait_until_settled(stack: Stack, account_id: str, workers: Workers, timeout: float) -> Counter[str]:
    """Poll the delivery rows until none is PENDING; returns the count per status.  A digest's delivery
    (a worker crossing a digest interval's end) is not one of the test's and is left out."""
    db = Database(stack.database_url, pool_size=1)
    deadline = time.monotonic() + timeout
    try:
        while True:
            workers.revive()
            async with db.transaction() as session:
                rows = await session.execute(
                    text(
                        "SELECT status, count(*) FROM webhook_deliveries"
                        " WHERE account_id = :a AND action <> :digest GROUP BY status"
                    ),
                    {"a": account_id, "digest": DIGEST_ACTION},
                )
                statuses = Counter({str(status): int(count) for status, count in rows})
            if statuses["PENDING"] == 0:
                return statuses
            if time.monotonic() > deadline:
                details = await stuck(stack, db)
                raise AssertionError(f"deliveries still pending after {timeout} s: {statuses}\n{details}")
            await asyncio.sleep(0.5)
    finally:
        await db.dispose()


async def stuck(stack: Stack, db: Database) -> str:
    """What a stuck delivery looks like in PostgreSQL and in Redis, for the failure message."""
    async with db.transaction() as session:
        rows = (
            await session.execute(
                text(
                    "SELECT id, attempts, next_attempt_at, now() AS now, last_status_code, last_error, updated_at"
                    " FROM webhook_deliveries WHERE status = 'PENDING' LIMIT 5"
                )
            )
        ).all()
    redis = Redis.from_url(stack.redis.url)
    lines = []
    for row in rows:
        keys = await redis.keys(f"*{row.id}*")
        found = {key.decode(): (await redis.type(key)).decode() + f" ttl={await redis.pttl(key)}ms" for key in keys}
        queued = {key: await redis.zscore("arq:queue", key.split(":", 2)[-1]) for key in found if "arq:job:" in key}
        lines.append(f"{row._asdict()} redis={found} queued={queued}")
    await redis.aclose()
    return "\n".join(lines)


async def recorded_seqs(stack: Stack, account_id: str) -> tuple[set[str], Counter[int]]:
    db = Database(stack.database_url, pool_size=1)
    try:
        async with db.transaction() as session:
            rows = (
                await session.execute(
                    text(
                        "SELECT id, (data->>'seq')::int FROM audit_events"
                        " WHERE account_id = :a AND action = 'chaos.recorded'"
                    ),
                    {"a": account_id},
                )
            ).all()
    finally:
        await db.dispose()
    return {str(row[0]) for row in rows}, Counter(int(row[1]) for row in rows)


@pytest.mark.timeout(1200)
@sizes(ChaosSize(1_000, 12, 3, 2), ChaosSize(10_000, 60, 5, 4))
async def test_every_event_is_delivered_signed_through_chaos(stack: Stack, size: ChaosSize) -> None:
    tenant = await stack.tenant(f"chaos-{size.events}", (Role.ADMIN, Role.SERVICE))
    chaos = ChaosReceiver()
    faults, recording = Faults(), Recording()
    async with running_receiver(reply_for=chaos.reply) as receiver, httpx.AsyncClient(timeout=30) as client:
        webhook = {
            "enabled": True,
            "endpoint": receiver.url,
            "secret": CANARY_WEBHOOK_SECRET,
            "customHeaders": {"entries": [{"key": CANARY_HEADER_NAME, "value": CANARY_HEADER_VALUE}]},
            "retryOnFailure": True,
        }
        response = await stack.gql(client, SET_WEBHOOK, {"input": webhook}, token=tenant.tokens[Role.ADMIN])
        assert response.json() == {"data": {"auditTrailSetWebhook": {"enabled": True}}}
        workers = Workers(stack, WORKERS, faults)
        try:
            await asyncio.gather(
                record_all(stack, tenant.tokens[Role.SERVICE], size, recording),
                inject_faults(stack, workers, size, faults, tenant.tokens[Role.ADMIN]),
            )
            settling_started = time.monotonic()
            statuses = await wait_until_settled(stack, tenant.account_id, workers, timeout=60 + size.events / 15)
            settled_in = round(time.monotonic() - settling_started, 1)
        finally:
            workers.stop()
        assert stack.api_is_alive(), "the API process died"

    stored_ids, seq_counts = await recorded_seqs(stack, tenant.account_id)
    delivered = [request for request in chaos.accepted if b'"chaos.recorded"' in request.body]
    delivered_ids = Counter(request.header("X-Audit-Event-Id") for request in delivered)
    delivered_seqs = {orjson.loads(request.body)["data"]["seq"] for request in delivered}
    figures = {
        "events": size.events,
        "seconds": size.seconds,
        "faults": {
            "receiver 500s": chaos.failed_with_500,
            "receiver hangs": chaos.hung,
            "worker SIGKILLs": faults.worker_kills,
            "worker exits not asked for": faults.worker_exits_unasked,
            "redis flushes": faults.redis_flushes,
            "redis restarts": faults.redis_restarts,
            "postgres restarts": faults.postgres_restarts,
        },
        "answers while postgres was down": dict(faults.answers_while_postgres_down),
        "readyz while postgres was down": sorted(faults.readyz_while_postgres_down),
        "recording": {
            "batches retried": recording.batches_retried,
            "error codes": dict(recording.error_codes),
            "http statuses": {str(status): n for status, n in recording.http_statuses.items()},
            "transport errors": dict(recording.transport_errors),
        },
        "seconds to settle after recording": settled_in,
        "receiver requests": chaos.requests,
        "delivered (distinct event ids)": len(delivered_ids),
        "duplicates": sum(delivered_ids.values()) - len(delivered_ids),
        "lost": len(recording.event_ids - set(delivered_ids)),
        "delivery rows": dict(statuses),
        "bad signatures (github, standardwebhooks)": (chaos.bad_github_signatures, chaos.bad_standard_signatures),
    }
    print("\nchaos figures:", orjson.dumps(figures, option=orjson.OPT_INDENT_2).decode())

    assert faults.postgres_restarts == faults.redis_restarts == faults.redis_flushes == 1
    assert faults.worker_kills >= size.seconds // size.kill_every_seconds - 1
    assert chaos.failed_with_500 > 0 and chaos.hung > 0
    assert faults.worker_exits_unasked == 0, "a worker died by itself (Redis or PostgreSQL restart?)"
    # While PostgreSQL was down the API answered, with a clear code, and said it was not ready.
    assert faults.answers_while_postgres_down["SERVICE_UNAVAILABLE"] > 0
    assert set(faults.answers_while_postgres_down) <= {"HTTP 200", "SERVICE_UNAVAILABLE"}, figures
    assert faults.readyz_while_postgres_down == {503}
    assert set(recording.error_codes) <= {"SERVICE_UNAVAILABLE"}, figures
    assert all(status < 500 for status in recording.http_statuses), figures
    # Nothing recorded twice, nothing lost, everything delivered and correctly signed.
    assert len(recording.event_ids) == size.events
    assert stored_ids == recording.event_ids
    assert len(seq_counts) == size.events and set(seq_counts.values()) == {1}
    assert statuses == Counter({"DELIVERED": size.events + 1}), figures  # + the set-up's own event
    assert set(delivered_ids) == recording.event_ids
    assert delivered_seqs == set(range(size.events))
    assert chaos.bad_github_signatures == chaos.bad_standard_signatures == 0
    for request in delivered[:50]:
        assert request.header(CANARY_HEADER_NAME) == CANARY_HEADER_VALUE
