"""The sweeper wakes the worker for due deliveries whose wake-up was lost, not for those whose own
job still waits in the queue (behind a backlog it would double the worker's work)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from arq.connections import ArqRedis
from arq.constants import default_queue_name, in_progress_key_prefix
from sqlalchemy import text

from api.models import Role
from api.settings import Settings
from api.webhooks.queue import connect_queue, delivery_job_id, enqueue_retry, retry_job_id
from tests.helpers import Api
from tests.receivers import SET_WEBHOOK, Receiver, webhook_input
from workers.context import CONTEXT_KEY, WorkerContext
from workers.sweeper import sweep

CREATE_KEY = 'mutation { apiKeyCreate(input: {name: "ci", role: SERVICE}) { id } }'
OWED = text("SELECT id FROM webhook_deliveries WHERE status = 'PENDING'")


@pytest.fixture
async def queue(settings: Settings) -> AsyncIterator[ArqRedis]:
    queue = await connect_queue(settings.redis_url or "")
    yield queue
    await queue.aclose()


async def sweep_once(settings: Settings, queue: ArqRedis) -> int:
    context = WorkerContext.open(settings, queue)
    try:
        return await sweep({CONTEXT_KEY: context})
    finally:
        await context.close()


async def owed_delivery(api: Api, receiver: Receiver) -> str:
    """A delivery the API committed and enqueued, with no worker running: its job waits in the queue."""
    admin = await api.key("acme", Role.ADMIN)
    (await api.gql(SET_WEBHOOK, {"input": webhook_input(receiver.url)}, token=admin.jwt)).ok()
    (await api.gql(CREATE_KEY, token=admin.jwt)).ok()
    async with api.db.transaction() as session:
        [delivery_id] = (await session.execute(OWED)).scalars()
    return str(delivery_id)


async def queued_job_ids(queue: ArqRedis) -> list[str]:
    return sorted(job_id.decode() for job_id in await queue.zrange(default_queue_name, 0, -1))


async def test_a_delivery_whose_wake_up_waits_in_the_queue_is_not_swept_again(
    api: Api, receiver: Receiver, settings: Settings, queue: ArqRedis
) -> None:
    delivery_id = await owed_delivery(api, receiver)
    swept = await sweep_once(settings, queue)
    assert swept == 0
    assert await queued_job_ids(queue) == [delivery_job_id(delivery_id)]


async def test_a_delivery_whose_wake_up_was_lost_is_swept(
    api: Api, receiver: Receiver, settings: Settings, queue: ArqRedis
) -> None:
    delivery_id = await owed_delivery(api, receiver)
    await queue.flushall()
    swept = await sweep_once(settings, queue)
    assert swept == 1
    [job_id] = await queued_job_ids(queue)
    assert job_id.startswith(f"{delivery_job_id(delivery_id)}:swept:")


async def test_a_delivery_whose_job_started_on_a_worker_that_died_before_claiming_is_swept(
    api: Api, receiver: Receiver, settings: Settings, queue: ArqRedis
) -> None:
    delivery_id = await owed_delivery(api, receiver)
    # What arq leaves when it started the job and its worker was killed: the job in progress for an hour.
    await queue.psetex(in_progress_key_prefix + delivery_job_id(delivery_id), 3_600_000, b"1")
    swept = await sweep_once(settings, queue)
    assert swept == 1
    assert len(await queued_job_ids(queue)) == 2


async def test_a_delivery_whose_only_job_is_deferred_past_now_is_swept(
    api: Api, receiver: Receiver, settings: Settings, queue: ArqRedis
) -> None:
    delivery_id = await owed_delivery(api, receiver)
    await queue.flushall()
    # A retry wake-up an hour away (the row due now all the same): not the next poll's to start.
    await enqueue_retry(queue, delivery_id, attempt=0, delay_seconds=3600)
    swept = await sweep_once(settings, queue)
    assert swept == 1
    assert retry_job_id(delivery_id, 0) in await queued_job_ids(queue)
