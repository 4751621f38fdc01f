"""What every job of the worker shares, typed: settings, database, arq's Redis, the webhook sender."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from arq.connections import ArqRedis

from api.db import Database
from api.settings import Settings
from api.webhooks import RetryPolicy, Sender

CONTEXT_KEY = "audittrail"


@dataclass(frozen=True, kw_only=True)
class WorkerContext:
    """Built once when the worker starts (``open``), kept in arq's ``ctx`` under ``CONTEXT_KEY``."""

    settings: Settings
    db: Database
    queue: ArqRedis
    """arq's own pool: the jobs enqueue retries and sweeps on it."""
    sender: Sender
    retry_policy: RetryPolicy

    @classmethod
    def open(cls, settings: Settings, queue: ArqRedis) -> WorkerContext:
        """Everything the jobs share, built once when the worker starts."""
        if settings.database_url is None:
            raise RuntimeError(
                "DATABASE_URL must be set to run the worker (`audittrail worker` starts an embedded PostgreSQL"
                " when it is not)"
            )
        return cls(
            settings=settings,
            # Deliveries hold a connection only to claim and to record, never while sending.
            db=Database(
                settings.database_url,
                pool_size=max(5, settings.worker_max_jobs // 5),
                timeouts=settings.worker_database_timeouts,
            ),
            queue=queue,
            sender=Sender.from_settings(settings),
            retry_policy=RetryPolicy.from_settings(settings),
        )

    async def close(self) -> None:
        """Close what ``open`` built (not the queue: it is arq's)."""
        await self.sender.aclose()
        await self.db.dispose()


def worker_context(ctx: dict[str, Any]) -> WorkerContext:
    """arq hands jobs a dict; ours keeps one typed object in it."""
    context = ctx[CONTEXT_KEY]
    assert isinstance(context, WorkerContext)
    return context
