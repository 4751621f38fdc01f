"""Jobs enqueued and started in one Redis round trip (api/webhooks/queue.py, workers/job_start.py)
are arq's own jobs, with arq's guarantees: one job per id, and one worker starting each."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from arq.connections import ArqRedis
from arq.constants import default_queue_name, in_progress_key_prefix, result_key_prefix
from arq.jobs import Job, JobStatus
from arq.utils import timestamp_ms
from redis.asyncio import Redis

from api.db import Database
from api.settings import Settings
from api.webhooks.queue import DELIVER_JOB, WAKE_CHANNEL, connect_queue, enqueue_wake_ups
from workers.job_start import mark_in_progress

WORKERS_RACING = 8
IN_PROGRESS_MS = 60_000
A_MINUTE_MS = 60_000


@pytest.fixture
async def queue(settings: Settings, db: Database) -> AsyncIterator[ArqRedis]:
    """arq's pool on the test Redis (``db`` only so that the state is cleaned first)."""
    queue = await connect_queue(settings.redis_url or "")
    yield queue
    await queue.aclose()


async def test_an_enqueued_wake_up_is_an_arq_job_of_deliver_for_its_delivery(queue: ArqRedis) -> None:
    await enqueue_wake_ups(queue, [("d-1", "deliver:d-1")])

    info = await Job("deliver:d-1", queue).info()
    assert info is not None
    assert (info.function, info.args, info.kwargs) == (DELIVER_JOB, ("d-1", None), {})
    assert await Job("deliver:d-1", queue).status() == JobStatus.queued
    assert info.score is not None and info.score <= timestamp_ms()  # due now


async def test_a_job_id_still_held_is_not_enqueued_again(queue: ArqRedis) -> None:
    await enqueue_wake_ups(queue, [("d-1", "deliver:d-1")])
    first = await queue.get("arq:job:deliver:d-1")
    await queue.set(result_key_prefix + "deliver:d-2", b"kept")

    await enqueue_wake_ups(queue, [("d-1", "deliver:d-1"), ("d-2", "deliver:d-2"), ("d-3", "deliver:d-3")])

    # As arq's enqueue_job: a queued id keeps its job as it was, an id with a kept result gets none.
    assert await queue.get("arq:job:deliver:d-1") == first
    assert sorted(job_id.decode() for job_id in await queue.zrange(default_queue_name, 0, -1)) == [
        "deliver:d-1",
        "deliver:d-3",
    ]


async def test_each_enqueue_publishes_one_wake_up_after_its_jobs(queue: ArqRedis, settings: Settings) -> None:
    listener = Redis.from_url(settings.redis_url or "")
    wake_ups = listener.pubsub()
    await wake_ups.subscribe(WAKE_CHANNEL)
    try:
        subscribed = await wake_ups.get_message(timeout=5)  # the subscription's confirmation, read first
        assert subscribed is not None and subscribed["type"] == "subscribe"
        await enqueue_wake_ups(queue, [("d-1", "deliver:d-1"), ("d-2", "deliver:d-2")])
        message = await wake_ups.get_message(timeout=5)
        jobs_when_woken = await queue.zcard(default_queue_name)
        another = await wake_ups.get_message(timeout=0.2)
    finally:
        await wake_ups.aclose()
        await listener.aclose()
    assert message is not None and (message["type"], message["data"]) == ("message", b"")
    assert jobs_when_woken == 2
    assert another is None


async def test_enqueueing_without_redis_returns_quietly() -> None:
    unreachable = ArqRedis.from_url("redis://127.0.0.1:9", socket_connect_timeout=1)
    try:
        await enqueue_wake_ups(unreachable, [("d-1", "deliver:d-1")])
    finally:
        await unreachable.aclose()


async def test_workers_racing_for_one_queued_job_start_it_once(queue: ArqRedis) -> None:
    await enqueue_wake_ups(queue, [("d-1", "deliver:d-1")])
    score = await queue.zscore(default_queue_name, "deliver:d-1")

    started = await asyncio.gather(
        *(
            mark_in_progress(queue, default_queue_name, "deliver:d-1", in_progress_ms=IN_PROGRESS_MS)
            for _ in range(WORKERS_RACING)
        )
    )

    assert [found for found in started if found is not None] == [score]
    assert 0 < await queue.pttl(in_progress_key_prefix + "deliver:d-1") <= IN_PROGRESS_MS


async def test_a_job_that_left_the_queue_or_is_deferred_is_not_started(queue: ArqRedis) -> None:
    await queue.zadd(default_queue_name, {"deliver:later": timestamp_ms() + A_MINUTE_MS})

    finished = await mark_in_progress(queue, default_queue_name, "deliver:gone", in_progress_ms=IN_PROGRESS_MS)
    deferred = await mark_in_progress(queue, default_queue_name, "deliver:later", in_progress_ms=IN_PROGRESS_MS)

    assert finished is None and deferred is None
    assert await queue.exists(in_progress_key_prefix + "deliver:gone", in_progress_key_prefix + "deliver:later") == 0
