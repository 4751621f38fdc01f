"""Wake-ups for the worker.  Redis only carries hints; the delivery rows are the truth."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import replace

import structlog
from arq.connections import ArqRedis, RedisSettings, create_pool
from arq.constants import in_progress_key_prefix, job_key_prefix, result_key_prefix
from arq.jobs import serialize_job
from arq.utils import timestamp_ms
from opentelemetry.trace import SpanKind
from redis.exceptions import RedisError

from api.observability import job_trace_context, span
from api.webhooks.attempts import DueDelivery

log = structlog.get_logger(__name__)

DELIVER_JOB = "deliver"
WAKE_CHANNEL = "audittrail:wake"
"""Pub/sub channel on which an enqueue of due deliveries wakes the workers (``workers/wake_ups.py``)
instead of leaving them to find the jobs at their next poll.  Its messages are empty: the queue
says what to do."""


def delivery_job_id(delivery_id: str) -> str:
    """One queued job per delivery: a second wake-up for the same row is dropped by arq.

    The worker keeps no job results, so the id is free again once the job has run.
    """
    return f"deliver:{delivery_id}"


def retry_job_id(delivery_id: str, attempt: int) -> str:
    """The deferred wake-up after ``attempt`` failed; distinct from the plain one, which may be queued too.

    Two wake-ups for one delivery are harmless: the claim lets only one of them send.
    """
    return f"deliver:{delivery_id}:after:{attempt}"


def swept_job_id(delivery_id: str, attempts: int, overdue_periods: int) -> str:
    """The sweeper's wake-up: never the plain id, and a new one each lease a delivery stays overdue.

    A worker killed mid-job leaves its jobs' keys in Redis, marked in progress for the worker's
    longest job timeout (the retention cron's 50 min), and arq drops a new job under an id it still
    holds.  Within one attempt and one lease period, repeated sweeps add nothing to the queue.
    """
    return f"deliver:{delivery_id}:swept:{attempts}:{overdue_periods}"


async def connect_queue(redis_url: str) -> ArqRedis:
    """The queue's pool.  When Redis does not answer, one that connects on first use instead of
    failing: the API starts and records events without Redis, and the sweeper enqueues them later."""
    settings = RedisSettings.from_dsn(redis_url)
    try:
        pool: ArqRedis = await create_pool(replace(settings, conn_retries=0), default_queue_name="arq:queue")
    except (RedisError, OSError, TimeoutError) as error:
        log.warning("Redis does not answer; starting without it, it is used once it does", error=str(error))
        pool = ArqRedis.from_url(redis_url, socket_connect_timeout=settings.conn_timeout)
    return pool


async def enqueue_deliveries(queue: ArqRedis | None, delivery_ids: Iterable[str]) -> None:
    """Ask the worker to send these now.  Never raises: if Redis is away the sweeper finds them."""
    delivery_ids = list(delivery_ids)
    if delivery_ids:
        async with span("enqueue deliver", kind=SpanKind.PRODUCER):  # the worker's spans continue this one
            await enqueue_wake_ups(queue, ((delivery_id, delivery_job_id(delivery_id)) for delivery_id in delivery_ids))


async def enqueue_retry(queue: ArqRedis, delivery_id: str, *, attempt: int, delay_seconds: float) -> None:
    """Wake the worker when the retry after ``attempt`` is due.  Never raises: if Redis loses the
    wake-up, the sweeper finds the row when it is due."""
    try:
        await queue.enqueue_job(
            DELIVER_JOB,
            delivery_id,
            job_trace_context(),
            _job_id=retry_job_id(delivery_id, attempt),
            _defer_by=delay_seconds,
        )
    except Exception as error:
        log.warning("could not schedule retry; the sweeper will", delivery_id=delivery_id, error=str(error))


async def enqueue_overdue(queue: ArqRedis, due: Iterable[DueDelivery], *, lease_seconds: float) -> None:
    """The sweeper's wake-ups for deliveries found due; never raises."""
    await enqueue_wake_ups(
        queue,
        (
            (row.delivery_id, swept_job_id(row.delivery_id, row.attempts, int(row.overdue_seconds // lease_seconds)))
            for row in due
        ),
    )


async def waiting_wake_ups(queue: ArqRedis, due: Sequence[DueDelivery]) -> set[str]:
    """The due deliveries whose own wake-up (the API's, or the retry after their last attempt) waits in
    arq's queue, due and not started: a worker's next poll starts it, and a swept one would only be a second
    job for the same attempt.  Behind a backlog the sweeper otherwise doubled the worker's work for
    every delivery still queued (a job and a claim that finds nothing due), which lengthened the backlog.

    A started job is no proof (its worker may have been killed before its claim), so the deliveries
    whose job is in progress are swept as before; so are all of them when Redis does not answer.
    """
    job_ids = [
        (row.delivery_id, job_id)
        for row in due
        for job_id in (delivery_job_id(row.delivery_id), retry_job_id(row.delivery_id, row.attempts))
    ]
    try:
        async with queue.pipeline(transaction=False) as pipe:
            for _, job_id in job_ids:
                pipe.zscore(queue.default_queue_name, job_id)
                pipe.exists(in_progress_key_prefix + job_id)
            answers = await pipe.execute()
    except Exception as error:
        log.warning("could not read the queue; sweeping every due delivery", error=str(error))
        return set()
    scores, in_progress = answers[0::2], answers[1::2]
    now_ms = time.time() * 1000  # a job deferred past now (a retry's) is not the next poll's
    return {
        delivery_id
        for (delivery_id, _), score, is_started in zip(job_ids, scores, in_progress, strict=True)
        if score is not None and score <= now_ms and not is_started
    }


# KEYS: the job's key, its result key, the queue.  ARGV: job id, score (ms), expiry (ms), the job.
# arq's enqueue_job as one script: a job whose id is still held (queued, or its result kept) is
# dropped, as arq drops it.
_ENQUEUE_JOB = """
if redis.call('EXISTS', KEYS[1], KEYS[2]) > 0 then return 0 end
redis.call('PSETEX', KEYS[1], ARGV[3], ARGV[4])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
return 1
"""


async def enqueue_wake_ups(queue: ArqRedis | None, wake_ups: Iterable[tuple[str, str]]) -> None:
    """Enqueue ``deliver`` for each (delivery id, job id), due now, then wake the workers; never raises.

    One round trip for them all: arq's ``enqueue_job`` takes four per job (``WATCH``, ``EXISTS``,
    ``MULTI``/``EXEC``, ``UNWATCH``), and they lay between the commit and the worker's wake-up.  The
    job is arq's own (``serialize_job``, its keys, its default expiry), so arq's worker runs it as any.
    """
    if queue is None:
        return
    enqueue_time_ms = timestamp_ms()
    trace_context = job_trace_context()
    try:
        async with queue.pipeline(transaction=False) as pipe:
            for delivery_id, job_id in wake_ups:
                job = serialize_job(
                    DELIVER_JOB,
                    (delivery_id, trace_context),
                    {},
                    None,
                    enqueue_time_ms,
                    serializer=queue.job_serializer,
                )
                pipe.eval(
                    _ENQUEUE_JOB, 3, job_key_prefix + job_id, result_key_prefix + job_id, queue.default_queue_name,
                    job_id, str(enqueue_time_ms), str(queue.expires_extra_ms),
                    job,  # type: ignore[arg-type]  # redis-py sends bytes as they are; its stubs say str
                )  # fmt: skip
            if len(pipe) == 0:
                return
            pipe.publish(WAKE_CHANNEL, b"")
            await pipe.execute()
    except Exception as error:
        log.warning("could not enqueue deliveries; the sweeper will pick them up", error=str(error))
