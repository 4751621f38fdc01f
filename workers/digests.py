"""Cron: sign a digest for every closed interval of every account, and enqueue the deliveries of the
``audit_trail.digest`` events that carry them."""

from __future__ import annotations

from typing import Any

import structlog

from api import integrity
from api.observability import count_events_recorded
from workers.context import worker_context

log = structlog.get_logger(__name__)


async def digest_job(ctx: dict[str, Any]) -> None:
    """Write the digests that are due (none when every closed interval has one already)."""
    context = worker_context(ctx)
    settings = context.settings
    signing_key = integrity.KeyRing.from_settings(settings).signing_key
    schedule = integrity.DigestSchedule(
        interval_seconds=settings.digest_interval_seconds, grace_seconds=settings.digest_grace
    )
    run = await integrity.write_due_digests(context.db, context.queue, signing_key, schedule)
    count_events_recorded("system", run.events_recorded)
    if run.written:
        log.info(
            "signed digests", count=len(run.written), last_interval_end=str(run.written[-1].statement.interval_end)
        )
