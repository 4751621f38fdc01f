"""Cron ``sweep``: wake the worker for every pending delivery that is due.

Redis only carries wake-ups, so a flushed Redis or a worker killed mid-send delays a delivery
until the next sweep (and, for a claimed attempt, until its lease runs out) but never loses it.
"""

from __future__ import annotations

from typing import Any

import structlog
from arq.connections import ArqRedis

from api.webhooks.attempts import claim_lease_seconds, find_due_deliveries
from api.webhooks.queue import enqueue_wake_ups, swept_job_id
from workers.context import worker_context

log = structlog.get_logger(__name__)

SWEEP_BATCH = 1000


async def sweep(ctx: dict[str, Any]) -> int:
    """Enqueue due deliveries; returns how many.  arq drops a wake-up whose job is already queued."""
    context = worker_context(ctx)
    queue: ArqRedis = ctx["redis"]
    async with context.db.transaction() as session:
        due = await find_due_deliveries(session, SWEEP_BATCH)
    if due:
        lease_seconds = claim_lease_seconds(context.sender.timeout_seconds)
        wake_ups = (
            (row.delivery_id, swept_job_id(row.delivery_id, row.attempts, int(row.overdue_seconds // lease_seconds)))
            for row in due
        )
        await enqueue_wake_ups(queue, wake_ups)
        log.info("swept due deliveries", count=len(due))
    return len(due)
