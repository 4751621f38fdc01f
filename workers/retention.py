"""Cron (hourly): remove events older than their account's retention, their deliveries, and the
logged-out tokens that have expired anyway."""

from __future__ import annotations

from typing import Any

import structlog

from api.accounts.login import forget_expired_logouts
from api.audit.retention import apply_retention
from api.observability import count_retention_run
from workers.context import worker_context

log = structlog.get_logger(__name__)


async def retention_job(ctx: dict[str, Any]) -> None:
    """Apply every account's retention, logging what went."""
    context = worker_context(ctx)
    async with context.db.transaction() as session:
        forgotten = await forget_expired_logouts(session)
    if forgotten:
        log.info("forgot expired logged-out tokens", count=forgotten)
    report = await apply_retention(context.db, default_retention_days=context.settings.default_retention_days)
    count_retention_run(
        events_removed=sum(report.deleted_events.values()),
        deliveries_removed=report.deleted_deliveries,
        partitions_dropped=len(report.dropped_partitions),
    )
    if report.dropped_partitions or report.skipped_partitions or report.deleted_events or report.deleted_deliveries:
        log.info(
            "retention removed expired events",
            dropped_partitions=report.dropped_partitions,
            skipped_partitions=report.skipped_partitions,
            deleted_events=report.deleted_events,
            deleted_deliveries=report.deleted_deliveries,
        )
