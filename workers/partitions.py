"""Cron: keep daily partitions of ``audit_events`` ready ahead of time."""

from __future__ import annotations

from typing import Any

import structlog

from api.audit.partitions import ensure_partitions
from workers.context import worker_context

log = structlog.get_logger(__name__)


async def create_partitions_job(ctx: dict[str, Any]) -> int:
    """Create the partitions of the days ahead that are missing; returns how many."""
    context = worker_context(ctx)
    async with context.db.transaction() as session:
        created = await ensure_partitions(session, days_ahead=context.settings.partitions_ahead_days)
    if created:
        log.info("created audit event partitions", count=created)
    return created
