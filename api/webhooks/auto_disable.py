"""Disabling a webhook that has failed for too long (Svix disables after 5 days), with an event saying so.

A receiver that is gone for good would otherwise collect retries forever and hide the problem
behind a "pending" log.  The worker's cron asks one indexed question (which live, enabled
webhooks fail since before the limit), disables them and records ``audit_trail_webhook.auto_disable``
by the service itself; that event goes to the webhook as it was (one last try: customers alert on
it, as on a manual disable).  Enabling it again verifies the endpoint first, as always.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from api.audit.actors import SYSTEM_ACTOR
from api.audit.record import EventDraft, Resource, now_ms, record_events
from api.audit.resources import ResourceType
from api.models import EventType

ACTION = "audit_trail_webhook.auto_disable"

_DISABLE_FAILING = text(
    """
    UPDATE webhooks AS w
    SET enabled = false, auto_disabled_at = now(), updated_at = now()
    FROM accounts AS a
    WHERE a.id = w.account_id
      AND w.enabled AND w.deleted_at IS NULL
      AND w.failing_since < now() - make_interval(secs => :failing_for_seconds)
    RETURNING w.id, w.account_id, a.name AS account_name, w.failing_since, w.consecutive_failures
    """
)


async def disable_failing_webhooks(session: AsyncSession, *, failing_for_seconds: float) -> list[str]:
    """Disable every webhook failing for longer than ``failing_for_seconds``; the ids of those disabled."""
    rows = (await session.execute(_DISABLE_FAILING, {"failing_for_seconds": failing_for_seconds})).all()
    for row in rows:
        draft = EventDraft(
            action=ACTION,
            actor=SYSTEM_ACTOR,
            timestamp_ms=now_ms(),
            event_type=EventType.UPDATE,
            affected_resource=Resource(ResourceType.ACCOUNT, row.account_id),
            related_resource=Resource(ResourceType.AUDIT_TRAIL_WEBHOOK, row.id),
            data={
                "webhookId": row.id,
                "reason": f"every attempt failed for more than {failing_for_seconds / 86400:g} days",
                "failingSince": int(row.failing_since.timestamp() * 1000),
                "consecutiveFailures": row.consecutive_failures,
            },
        )
        await record_events(
            session,
            [draft],
            account_id=row.account_id,
            account_name=row.account_name,
            recorded_by=None,
            forced_webhook_id=row.id,
        )
    return [str(row.id) for row in rows]
