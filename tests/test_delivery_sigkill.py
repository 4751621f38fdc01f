"""A worker killed with SIGKILL mid-batch, and Redis flushed: every event is still delivered after restart."""

from __future__ import annotations

import signal
import subprocess
import sys
from contextlib import AbstractContextManager
from pathlib import Path

import orjson
import pytest
from sqlalchemy import text

from api.audit.record import EventDraft, now_ms, record_events
from api.models import EventType, Role
from api.settings import Settings
from api.webhooks.queue import connect_queue, enqueue_deliveries
from tests.helpers import Api
from tests.receivers import (
    SET_WEBHOOK,
    ReceivedRequest,
    Reply,
    running_process,
    running_receiver,
    webhook_input,
    worker_environment,
)
from tests.support.polling import poll

EVENT_COUNT = 40
AUDITTRAIL = Path(sys.executable).parent / "audittrail"


def worker_process(settings: Settings, log_file: Path) -> AbstractContextManager[subprocess.Popen[bytes]]:
    """``audittrail worker`` in a process of its own, against the test servers, with a fast schedule."""
    environment = worker_environment(
        settings,
        log_file.parent,
        # A 1 s send timeout makes a claimed attempt's lease 3 s: what a killed worker delays it by.
        webhook_timeout_seconds="1",
        worker_max_jobs="4",
    )
    return running_process([str(AUDITTRAIL), "worker"], environment, log_file)


def slow_for_events(request: ReceivedRequest) -> Reply:
    """Verify-on-save is answered at once; events slowly, so the kill lands mid-batch."""
    return Reply(delay_seconds=0.0 if b"audit_trail_webhook.set" in request.body else 0.15)


@pytest.mark.slow
async def test_sigkilled_worker_and_flushed_redis_lose_no_delivery(
    api: Api, settings: Settings, tmp_path: Path
) -> None:
    admin = await api.key("acme", Role.ADMIN)
    async with running_receiver(reply_for=slow_for_events) as receiver:
        retrying = webhook_input(receiver.url, retryOnFailure=True)
        (await api.gql(SET_WEBHOOK, {"input": retrying}, token=admin.jwt)).ok()
        drafts = [
            EventDraft(
                action=f"stack.updated.{n}", event_type=EventType.UPDATE, actor="github::alice", timestamp_ms=now_ms()
            )
            for n in range(EVENT_COUNT)
        ]
        async with api.db.transaction() as session:
            batch = await record_events(
                session, drafts, account_id=admin.account_id, account_name="acme", recorded_by=admin.id
            )
        queue = await connect_queue(settings.redis_url or "")
        try:
            await enqueue_deliveries(queue, batch.delivery_ids)
            log_file = tmp_path / "worker.log"
            with worker_process(settings, log_file) as first:
                await receiver.wait_for(1 + 8, timeout=30)
                first.send_signal(signal.SIGKILL)
                first.wait()
            await queue.flushall()
            assert await undelivered_count(api) > 0, "the kill should have left deliveries behind"
            with worker_process(settings, log_file):
                await poll_all_delivered(api, log_file)
        finally:
            await queue.aclose()
        received_event_ids = {request.header("X-Audit-Event-Id") for request in receiver.requests}
    assert {event.id for event in batch.events} <= received_event_ids
    actions = {orjson.loads(request.body)["action"] for request in receiver.requests}
    assert {draft.action for draft in drafts} <= actions
    # Both workers ran on uvloop, as the API does (asyncio's own loop cost a fifth of the worker's CPU).
    started = [line for line in log_file.read_text().splitlines() if "worker started" in line]
    assert len(started) == 2 and all("uvloop.Loop" in line for line in started), started


async def undelivered_count(api: Api) -> int:
    async with api.db.transaction() as session:
        result = await session.execute(text("SELECT count(*) FROM webhook_deliveries WHERE status <> 'DELIVERED'"))
        return int(result.scalar_one())


async def poll_all_delivered(api: Api, log_file: Path) -> None:
    async def all_delivered() -> bool:
        return await undelivered_count(api) == 0

    try:
        await poll(all_delivered, timeout=45, what="every delivery to be DELIVERED after the restart")
    except AssertionError:
        print(log_file.read_text()[-4000:])
        raise
