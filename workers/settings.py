"""arq's ``WorkerSettings``: ``arq workers.settings.WorkerSettings`` runs the worker configured from the
environment (``DATABASE_URL``, ``REDIS_URL``, ``AUDITTRAIL_*``).  ``audittrail worker`` runs the same
settings, after starting embedded servers for the URLs that are not set."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import structlog
import uvloop
from arq import cron, func
from arq.connections import ArqRedis, RedisSettings
from arq.cron import CronJob
from arq.typing import StartupShutdown, WorkerCoroutine, WorkerSettingsBase
from arq.worker import Function, Worker, get_kwargs
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from api import webhooks
from api.accounts.failed_logins import RECORD_FAILED_LOGIN_JOB
from api.logging import configure_logging
from api.observability import configure_tracing
from api.settings import Settings
from workers.context import CONTEXT_KEY, WorkerContext
from workers.delivery import deliver
from workers.digests import digest_job
from workers.failed_logins import flush_failed_logins, record_failed_login_job
from workers.metrics_server import WorkerMetricsServer
from workers.partitions import create_partitions_job
from workers.replay import REPLAY_SECONDS, replay_job
from workers.retention import retention_job
from workers.sweeper import sweep
from workers.wake_ups import WakeableWorker
from workers.webhook_health import auto_disable_job

log = structlog.get_logger(__name__)

REDIS_RECONNECT_SECONDS = 1.0
METRICS_SERVER_KEY = "audittrail_metrics_server"
CRON_TIMEOUT_SECONDS = 60
"""The sweeper and the partition cron: a statement or two each."""
RETENTION_TIMEOUT_SECONDS = 50 * 60
"""Retention may delete many batches; it has most of the hour."""
DIGEST_TIMEOUT_SECONDS = 15 * 60
"""A digest over a busy interval reads and hashes every event in it; each digest commits on its own,
so a run cut short loses nothing and the next one goes on."""


def sweep_seconds(interval_seconds: int) -> set[int]:
    """The seconds of each minute at which the sweeper runs (at least once a minute)."""
    return set(range(0, 60, min(interval_seconds, 60)))


def worker_settings(settings: Settings) -> type[WorkerSettingsBase]:
    """arq's settings class for ``settings``.  arq reads a class's own attributes only (not inherited
    ones), so other settings get a class of their own rather than a subclass."""

    async def startup(ctx: dict[str, Any]) -> None:
        queue = ctx["redis"]  # arq's pool, connected before startup
        assert isinstance(queue, ArqRedis)
        ctx[CONTEXT_KEY] = WorkerContext.open(settings, queue)
        ctx[METRICS_SERVER_KEY] = await WorkerMetricsServer.start(settings)
        loop = type(asyncio.get_running_loop())
        log.info("worker started", event_loop=f"{loop.__module__}.{loop.__qualname__}")

    async def shutdown(ctx: dict[str, Any]) -> None:
        context = ctx.get(CONTEXT_KEY)
        if isinstance(context, WorkerContext):
            await context.close()
        metrics_server = ctx.get(METRICS_SERVER_KEY)
        if isinstance(metrics_server, WorkerMetricsServer):
            await metrics_server.stop()

    class WorkerSettings:
        functions: Sequence[WorkerCoroutine | Function] = [
            # An attempt still running at the end of its lease may be claimed and sent by another
            # worker; nothing is gained by letting it go on.
            func(deliver, timeout=webhooks.claim_lease_seconds(settings.webhook_timeout_seconds)),
            func(record_failed_login_job, name=RECORD_FAILED_LOGIN_JOB),
        ]
        cron_jobs: Sequence[CronJob] | None = [
            cron(create_partitions_job, minute=7, run_at_startup=True, unique=True),
            cron(retention_job, minute=23, unique=True, timeout=RETENTION_TIMEOUT_SECONDS),
            cron(sweep, second=sweep_seconds(settings.sweep_interval_seconds), run_at_startup=True, unique=True),
            # Every minute (more often for intervals under a minute); a run writes every interval due.
            cron(
                digest_job,
                second=sweep_seconds(settings.digest_interval_seconds),
                run_at_startup=True,
                unique=True,
                timeout=DIGEST_TIMEOUT_SECONDS,
            ),
            cron(auto_disable_job, second=30, unique=True),
            cron(flush_failed_logins, second=sweep_seconds(settings.sweep_interval_seconds), unique=True),
            cron(replay_job, second=REPLAY_SECONDS, run_at_startup=True, unique=True),
        ]
        # REDIS_URL unset: arq's own default (localhost:6379), as for any arq worker.
        redis_settings = RedisSettings.from_dsn(settings.redis_url) if settings.redis_url else RedisSettings()
        on_startup: StartupShutdown | None = startup
        on_shutdown: StartupShutdown | None = shutdown
        poll_delay = settings.worker_poll_delay_seconds
        max_jobs = settings.worker_max_jobs
        keep_result = 0  # a delivery's job id is free again once it ran
        job_timeout = CRON_TIMEOUT_SECONDS
        handle_signals = True

    return WorkerSettings


WorkerSettings = worker_settings(Settings())
"""The worker as ``arq workers.settings.WorkerSettings`` runs it: settings read from the environment."""


def build_worker(settings: Settings, *, handle_signals: bool = True) -> Worker:
    """The worker for ``settings``, built as the ``arq`` command builds one from a settings class, but
    woken by each enqueue instead of only polling (``workers/wake_ups.py``)."""
    return WakeableWorker(**{**get_kwargs(worker_settings(settings)), "handle_signals": handle_signals})


def run_worker(settings: Settings) -> None:
    """Run until SIGINT/SIGTERM.  arq's poll loop ends on a lost Redis connection (a Redis restart);
    the worker starts again instead of exiting: the delivery rows are the truth, the sweeper catches up.

    On uvloop, as uvicorn runs the API: asyncio's own loop spent a fifth of the worker's CPU in its
    selector and socket calls (arq's polls, every delivery's and digest's round trips)."""
    configure_logging(settings)
    configure_tracing("audittrail-worker")
    asyncio.set_event_loop(uvloop.new_event_loop())  # arq's Worker runs the loop set here
    while True:
        try:
            build_worker(settings).run()
            return
        except (RedisConnectionError, RedisTimeoutError, OSError) as error:
            log.warning("lost the connection to Redis; starting the worker again", error=str(error))
            time.sleep(REDIS_RECONNECT_SECONDS)
