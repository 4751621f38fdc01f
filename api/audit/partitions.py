"""Daily partitions of ``audit_events``, created ahead of the days they will hold.

An event whose day has no partition lands in the default one, which retention can only empty row
by row; so the worker's cron keeps a week (``AUDITTRAIL_PARTITIONS_AHEAD_DAYS``) ready.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


async def ensure_partitions(session: AsyncSession, *, days_ahead: int) -> int:
    """Create the partitions from yesterday to ``days_ahead`` days from now; returns how many were new."""
    # Partitions are UTC days: current_date and the bounds' casts to timestamptz follow the session's zone.
    await session.execute(text("SET LOCAL TIME ZONE 'UTC'"))
    result = await session.execute(
        text("SELECT audit_events_ensure_partitions(current_date - 1, :count)"), {"count": days_ahead + 2}
    )
    return int(result.scalar_one())
