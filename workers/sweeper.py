"""Cron ``sweep``: wake the worker for every pending delivery that is due.

Redis only carries wake-ups, so a flushed Redis or a worker killed mid-send delays a delivery
until the next sweep (and, for a claimed attempt, until its lease runs out) but never loses it.
"""

from __future__ import annotations

from typing import Any

import structlog
from arq.connections import ArqRedis

from api.webhooks.deliveries import find_due_delivery_ids
from api.webhooks.queue import enqueue_deliveries
from workers.context import worker_context

log = structlog.get_logger(__name__)

SWEEP_BATCH = 1000


async def sweep(ctx: dict[str, Any]) -> int:
    """Enqueue due deliveries; returns how many.  arq drops a wake-up whose job is already queued."""
    context = worker_context(ctx)
    queue: ArqRedis = ctx["redis"]
    async with context.db.transaction() as session:
        due_ids = await find_due_delivery_ids(session, SWEEP_BATCH)
    if due_ids:
        await enqueue_deliveries(queue, due_ids)
        log.info("swept due deliveries", count=len(due_ids))
    return len(due_ids)
