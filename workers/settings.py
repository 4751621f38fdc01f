"""arq worker settings: jobs, crons, Redis, and a poll delay short enough for ~100 ms delivery."""

from __future__ import annotations

import time
from typing import Any

import structlog
from arq import cron
from arq.connections import RedisSettings
from arq.typing import WorkerCoroutine
from arq.worker import Function, Worker
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from api.db import Database
from api.logging import configure_logging
from api.settings import Settings
from api.webhooks.attempts import claim_lease_seconds
from api.webhooks.retry_policy import RetryPolicy
from api.webhooks.sender import Sender
from workers.context import WorkerContext, worker_context
from workers.delivery import deliver
from workers.partitions import create_partitions_job
from workers.retention import retention_job
from workers.sweeper import sweep

log = structlog.get_logger(__name__)

REDIS_RECONNECT_SECONDS = 1.0


def worker_functions() -> list[WorkerCoroutine | Function]:
    return [deliver]


def sweep_seconds(interval_seconds: int) -> set[int]:
    """The seconds of each minute at which the sweeper runs (at least once a minute)."""
    return set(range(0, 60, min(interval_seconds, 60)))


def build_worker(settings: Settings, *, handle_signals: bool = True) -> Worker:
    """An arq Worker wired to our jobs; ``keep_result=0`` frees a delivery's job id once it ran."""
    assert settings.redis_url is not None

    async def startup(ctx: dict[str, Any]) -> None:
        assert settings.database_url is not None
        ctx["audittrail"] = WorkerContext(
            settings=settings,
            db=Database(settings.database_url, pool_size=max(5, settings.worker_max_jobs // 5)),
            sender=Sender.from_settings(settings),
            retry_policy=RetryPolicy.from_settings(settings),
        )

    async def shutdown(ctx: dict[str, Any]) -> None:
        if "audittrail" in ctx:
            context = worker_context(ctx)
            await context.sender.aclose()
            await context.db.dispose()

    return Worker(
        functions=worker_functions(),
        cron_jobs=[
            cron(create_partitions_job, minute=7, run_at_startup=True, unique=True),
            # Retention may delete many batches; it has most of the hour, not the delivery job timeout.
            cron(retention_job, minute=23, unique=True, timeout=50 * 60),
            cron(sweep, second=sweep_seconds(settings.sweep_interval_seconds), run_at_startup=True, unique=True),
        ],
        redis_settings=RedisSettings.from_dsn(settings.redis_url),
        on_startup=startup,
        on_shutdown=shutdown,
        poll_delay=settings.worker_poll_delay_seconds,
        max_jobs=settings.worker_max_jobs,
        keep_result=0,
        job_timeout=max(60, int(claim_lease_seconds(settings.webhook_timeout_seconds))),
        handle_signals=handle_signals,
    )


def run_worker(settings: Settings) -> None:
    """Run until SIGINT/SIGTERM.  arq's poll loop ends on a lost Redis connection (a Redis restart);
    the worker starts again instead of exiting: the delivery rows are the truth, the sweeper catches up."""
    configure_logging(settings)
    while True:
        try:
            build_worker(settings).run()
            return
        except (RedisConnectionError, RedisTimeoutError, OSError) as error:
            log.warning("lost the connection to Redis; starting the worker again", error=str(error))
            time.sleep(REDIS_RECONNECT_SECONDS)
