"""Cron (every minute): disable webhooks failing too long (``AUDITTRAIL_WEBHOOK_AUTO_DISABLE_AFTER_SECONDS``)."""

from __future__ import annotations

from typing import Any

import structlog

from api.observability import count_events_recorded, count_webhooks_auto_disabled
from api.webhooks.auto_disable import disable_failing_webhooks
from workers.context import worker_context

log = structlog.get_logger(__name__)


async def auto_disable_job(ctx: dict[str, Any]) -> int:
    """Disable and record each webhook failing past the limit; the sweeper then sends the events."""
    context = worker_context(ctx)
    limit = context.settings.webhook_auto_disable_after_seconds
    if limit <= 0:
        return 0
    async with context.db.transaction() as session:
        disabled = await disable_failing_webhooks(session, failing_for_seconds=limit)
    count_webhooks_auto_disabled(len(disabled))
    count_events_recorded("system", len(disabled))  # one audit_trail_webhook.auto_disable event each
    if disabled:
        log.warning("disabled webhooks failing too long", webhook_ids=disabled, failing_for_seconds=limit)
    return len(disabled)
