""" "Redeliver all failed": the current webhook's FAILED deliveries queued for one more attempt each.

The same rows go back to PENDING, due now, and the worker sends them as it sends any delivery
(after commit: ``enqueue_deliveries``; the sweeper finds them if Redis loses the wake-up).  Each
keeps its id, event and body, and its drawer shows the new attempt after the old ones, as a single
Redeliver does.  Oldest first, at most ``max_deliveries`` per call: a call after a long outage
queues a bounded batch and says how many failed deliveries are left for the next one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from api.audit.facts import Audited, AuditFacts
from api.audit.record import Resource
from api.audit.resources import ResourceType
from api.errors import BadInput, Conflict
from api.models import DeliveryStatus, WebhookDelivery, utcnow
from api.webhooks.config import get_live_webhook


@dataclass(frozen=True)
class FailedDeliveriesRange:
    """The failed deliveries created from ``created_from`` to ``created_to`` (None: unbounded)."""

    created_from: datetime | None = None
    created_to: datetime | None = None


@dataclass(frozen=True)
class RequeuedDeliveries:
    delivery_ids: list[str]
    """Queued by this call, oldest first; the worker is woken for them once it commits."""
    remaining: int
    """FAILED deliveries of the range still left (more than one call's bound)."""


async def requeue_failed_deliveries(
    session: AsyncSession, account_id: str, *, in_range: FailedDeliveriesRange, max_deliveries: int
) -> Audited[RequeuedDeliveries]:
    """Queue the account's current webhook's FAILED deliveries in ``in_range`` for one more attempt."""
    start, end = in_range.created_from, in_range.created_to
    if start is not None and end is not None and start > end:
        raise BadInput(f"from ({start.isoformat()}) must not be after to ({end.isoformat()})")
    webhook = await get_live_webhook(session, account_id)
    if not webhook.enabled:
        raise Conflict("the webhook is disabled; enable it before redelivering to it")
    conditions = [
        col(WebhookDelivery.webhook_id) == webhook.id,
        col(WebhookDelivery.status) == DeliveryStatus.FAILED.value,
    ]
    if start is not None:
        conditions.append(col(WebhookDelivery.created_at) >= start)
    if end is not None:
        conditions.append(col(WebhookDelivery.created_at) <= end)
    # SKIP LOCKED: a delivery a single Redeliver is recording right now is left to it.  A CTE, read once:
    # as a subquery PostgreSQL may run it again for each row it updates, and each run, skipping the rows
    # this very statement just made PENDING, chose the next ones, so one call queued all of them.
    chosen = (
        select(col(WebhookDelivery.id))
        .where(*conditions)
        .order_by(col(WebhookDelivery.created_at), col(WebhookDelivery.id))
        .limit(max_deliveries)
        .with_for_update(skip_locked=True)
        .cte("chosen")
        .prefix_with("MATERIALIZED")
    )
    now = utcnow()
    requeued = await session.execute(
        update(WebhookDelivery)
        .where(col(WebhookDelivery.id).in_(select(chosen.c.id)))
        .values(status=DeliveryStatus.PENDING.value, next_attempt_at=now, updated_at=now)
        .returning(col(WebhookDelivery.created_at), col(WebhookDelivery.id))
        .execution_options(synchronize_session=False)
    )
    delivery_ids = [str(row.id) for row in sorted(requeued.all())]
    remaining = await session.scalar(select(func.count()).select_from(WebhookDelivery).where(*conditions))
    facts = AuditFacts(
        affected_resource=Resource(ResourceType.ACCOUNT, account_id),
        related_resource=Resource(ResourceType.AUDIT_TRAIL_WEBHOOK, webhook.id),
    )
    return Audited(RequeuedDeliveries(delivery_ids=delivery_ids, remaining=int(remaining or 0)), facts)
