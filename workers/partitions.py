"""Cron: keep daily partitions of ``audit_events`` ready ahead of time."""

from __future__ import annotations

from typing import Any

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from workers.context import worker_context

log = structlog.get_logger(__name__)


async def ensure_partitions(session: AsyncSession, days_ahead: int) -> int:
    """Create the partitions from yesterday to ``days_ahead`` days from now; returns how many were new."""
    await session.execute(text("SET LOCAL TIME ZONE 'UTC'"))
    result = await session.execute(
        text("SELECT audit_events_ensure_partitions(current_date - 1, :count)"), {"count": days_ahead + 2}
    )
    return int(result.scalar_one())


async def create_partitions_job(ctx: dict[str, Any]) -> int:
    context = worker_context(ctx)
    async with context.db.transaction() as session:
        created = await ensure_partitions(session, context.settings.partitions_ahead_days)
    if created:
        log.info("created audit event partitions", count=created)
    return created
