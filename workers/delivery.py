"""The ``deliver`` job: claim one attempt, sign and POST it, record it, schedule the next one."""

from __future__ import annotations

from typing import Any

import structlog
from arq.connections import ArqRedis

from api.models import DeliveryStatus
from api.webhooks.attempts import claim_attempt, claim_lease_seconds, record_attempt
from api.webhooks.queue import DELIVER_JOB, retry_job_id
from workers.context import worker_context

log = structlog.get_logger(__name__)


async def deliver(ctx: dict[str, Any], delivery_id: str) -> str:
    """Send the delivery if it is due; returns what happened (for arq's log, no secrets in it)."""
    context = worker_context(ctx)
    # Claim and record are two short transactions: no row lock is held while the endpoint answers.
    async with context.db.transaction() as session:
        claimed = await claim_attempt(
            session, delivery_id, lease_seconds=claim_lease_seconds(context.sender.timeout_seconds)
        )
    if claimed is None:
        return "not due"
    outcome = await context.sender.send(claimed)
    step = context.retry_policy.next_step(outcome, attempt=claimed.attempt, retry_on_failure=claimed.retry_on_failure)
    async with context.db.transaction() as session:
        is_recorded = await record_attempt(session, claimed, outcome, step)
    if not is_recorded:
        log.warning("attempt superseded before it was recorded", delivery_id=delivery_id, attempt=claimed.attempt)
        return "superseded"
    log.info(
        "delivery attempt",
        delivery_id=delivery_id,
        event_id=claimed.event_id,
        attempt=claimed.attempt,
        result=outcome.describe(),
        latency_ms=outcome.latency_ms,
        status=step.status.value,
    )
    if step.status == DeliveryStatus.PENDING and step.retry_in_seconds is not None:
        await _wake_up_later(ctx, delivery_id, claimed.attempt, step.retry_in_seconds)
    return f"{step.status.value} after attempt {claimed.attempt}: {outcome.describe()}"


async def _wake_up_later(ctx: dict[str, Any], delivery_id: str, attempt: int, delay_seconds: float) -> None:
    """A deferred job for the retry; if Redis loses it, the sweeper finds the row when it is due."""
    queue: ArqRedis = ctx["redis"]
    try:
        await queue.enqueue_job(
            DELIVER_JOB, delivery_id, _job_id=retry_job_id(delivery_id, attempt), _defer_by=delay_seconds
        )
    except Exception as error:
        log.warning("could not schedule retry; the sweeper will", delivery_id=delivery_id, error=str(error))
