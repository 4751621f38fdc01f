"""Cron ``sweep``: wake the worker for every pending delivery that is due.

Redis only carries wake-ups, so a flushed Redis or a worker killed mid-send delays a delivery
until the next sweep (and, for a claimed attempt, until its lease runs out) but never loses it.
"""

from __future__ import annotations

from typing import Any

import structlog

from api import webhooks
from workers.context import worker_context

log = structlog.get_logger(__name__)

SWEEP_BATCH = 1000


async def sweep(ctx: dict[str, Any]) -> int:
    """Enqueue due deliveries whose own wake-up is not waiting in the queue; returns how many."""
    context = worker_context(ctx)
    async with context.db.transaction() as session:
        due = await webhooks.find_due_deliveries(session, SWEEP_BATCH)
    if due:
        waiting = await webhooks.waiting_wake_ups(context.queue, due)
        due = [row for row in due if row.delivery_id not in waiting]
    if due:
        lease_seconds = webhooks.claim_lease_seconds(context.sender.timeout_seconds)
        await webhooks.enqueue_overdue(context.queue, due, lease_seconds=lease_seconds)
        log.info("swept due deliveries", count=len(due))
    return len(due)
