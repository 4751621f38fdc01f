"""Cron (every second): move each running replay on by one batch and wake the worker for it.

A replay's next batch is enqueued only once its previous one has left ``PENDING`` (delivered or
failed), so live deliveries, enqueued as their events commit, queue behind at most one batch.
"""

from __future__ import annotations

from typing import Any

import structlog

from api import webhooks
from workers.context import worker_context

log = structlog.get_logger(__name__)

REPLAY_SECONDS = set(range(60))


async def replay_job(ctx: dict[str, Any]) -> int:
    """Enqueue the next batch of every running replay; returns how many deliveries it woke."""
    context = worker_context(ctx)
    async with context.db.transaction() as session:
        delivery_ids = await webhooks.advance_replays(session, batch_size=context.settings.replay_batch_size)
    if delivery_ids:
        await webhooks.enqueue_deliveries(context.queue, delivery_ids)
        log.info("replay batch enqueued", count=len(delivery_ids))
    return len(delivery_ids)
