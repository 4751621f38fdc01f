"""The ``deliver`` job: make the delivery's attempt if it is due, then schedule the next one."""

from __future__ import annotations

from typing import Any

import structlog

from api import webhooks
from api.models import DeliveryStatus
from api.observability import job_span
from workers.context import WorkerContext, worker_context

log = structlog.get_logger(__name__)


async def deliver(ctx: dict[str, Any], delivery_id: str, trace_context: dict[str, str] | None = None) -> str:
    """Send the delivery if it is due; returns what happened (for arq's log, no secrets in it).
    ``trace_context`` continues the trace of whoever enqueued it (set only while tracing is on)."""
    with job_span("deliver", trace_context):
        return await _deliver(worker_context(ctx), delivery_id)


async def _deliver(context: WorkerContext, delivery_id: str) -> str:
    result = await webhooks.deliver_due(context.db, context.sender, context.retry_policy, delivery_id=delivery_id)
    if result is None:
        return "not due"
    step, outcome = result.next_step, result.outcome
    if step is None:
        log.warning("attempt superseded before it was recorded", delivery_id=delivery_id, attempt=result.attempt)
        return "superseded"
    log.info(
        "delivery attempt",
        delivery_id=delivery_id,
        event_id=result.event_id,
        attempt=result.attempt,
        result=outcome.describe(),
        latency_ms=outcome.latency_ms,
        status=step.status.value,
    )
    if step.status == DeliveryStatus.PENDING and step.retry_in_seconds is not None:
        await webhooks.enqueue_retry(
            context.queue, delivery_id, attempt=result.attempt, delay_seconds=step.retry_in_seconds
        )
    return f"{step.status.value} after attempt {result.attempt}: {outcome.describe()}"
