"""arq worker settings: jobs, crons, Redis, and a poll delay short enough for ~100 ms delivery."""

from __future__ import annotations

from typing import Any

import httpx
from arq import cron
from arq.connections import RedisSettings
from arq.typing import WorkerCoroutine
from arq.worker import Function, Worker

from api.db import Database
from api.logging import configure_logging
from api.settings import Settings
from workers.context import WorkerContext, worker_context
from workers.partitions import create_partitions_job


def worker_functions() -> list[WorkerCoroutine | Function]:
    return []


def build_worker(settings: Settings) -> Worker:
    """An arq Worker wired to our jobs; ``keep_result=0`` frees a delivery's job id once it ran."""
    assert settings.redis_url is not None

    async def startup(ctx: dict[str, Any]) -> None:
        assert settings.database_url is not None
        ctx["audittrail"] = WorkerContext(
            settings=settings,
            db=Database(settings.database_url, pool_size=max(5, settings.worker_max_jobs // 5)),
            http=httpx.AsyncClient(
                follow_redirects=False,
                timeout=settings.webhook_timeout_seconds,
                limits=httpx.Limits(max_connections=settings.worker_max_jobs),
            ),
            secret_key=settings.resolved_secret_key(),
        )

    async def shutdown(ctx: dict[str, Any]) -> None:
        if "audittrail" in ctx:
            context = worker_context(ctx)
            await context.http.aclose()
            await context.db.dispose()

    return Worker(
        functions=worker_functions(),
        cron_jobs=[cron(create_partitions_job, minute=7, run_at_startup=True, unique=True)],
        redis_settings=RedisSettings.from_dsn(settings.redis_url),
        on_startup=startup,
        on_shutdown=shutdown,
        poll_delay=settings.worker_poll_delay_seconds,
        max_jobs=settings.worker_max_jobs,
        keep_result=0,
        job_timeout=max(60, int(settings.webhook_timeout_seconds * 3)),
        handle_signals=True,
    )


def run_worker(settings: Settings) -> None:
    """Run until SIGINT/SIGTERM."""
    configure_logging(settings)
    build_worker(settings).run()
