"""Wake-ups for the worker.  Redis only carries hints; the delivery rows are the truth."""

from __future__ import annotations

from collections.abc import Iterable

import structlog
from arq.connections import ArqRedis, RedisSettings, create_pool

log = structlog.get_logger(__name__)

DELIVER_JOB = "deliver"


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


async def connect_queue(redis_url: str) -> ArqRedis:
    pool: ArqRedis = await create_pool(RedisSettings.from_dsn(redis_url), default_queue_name="arq:queue")
    return pool


async def enqueue_deliveries(queue: ArqRedis | None, delivery_ids: Iterable[str]) -> None:
    """Ask the worker to send these now.  Never raises: if Redis is away the sweeper finds them."""
    if queue is None:
        return
    for delivery_id in delivery_ids:
        try:
            await queue.enqueue_job(DELIVER_JOB, delivery_id, _job_id=delivery_job_id(delivery_id))
        except Exception as error:
            log.warning(
                "could not enqueue delivery; the sweeper will pick it up",
                delivery_id=delivery_id,
                error=str(error),
            )
            return
