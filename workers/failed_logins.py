"""The events of failed logins: a window's first failure (a job the API queues) and the summaries of
windows that ended (cron ``flush_failed_logins``, with the sweeper's period)."""

from __future__ import annotations

from typing import Any

import structlog

from api.accounts.failed_logins import LoginAttempt, record_failed_login, record_failure_summary
from api.accounts.failure_reports import FailureReports
from api.audit.record import now_ms
from api.observability import count_events_recorded
from api.webhooks import unit_of_work
from workers.context import WorkerContext, worker_context

log = structlog.get_logger(__name__)

REPORT_LEASE_SECONDS = 60
"""How long one run holds a closed report: a run that dies leaves it to the next after this."""


async def record_failed_login_job(ctx: dict[str, Any], attempt: dict[str, Any]) -> bool:
    """Record the first failed login of a window; False when its key id names no key."""
    context = worker_context(ctx)
    async with unit_of_work(context.db, context.queue) as unit:
        recorded = await record_failed_login(unit.session, LoginAttempt(**attempt))
        if recorded is not None:
            unit.enqueue_after_commit(recorded.delivery_ids)
    if recorded is not None:
        count_events_recorded("system", 1)
    return recorded is not None


async def flush_failed_logins(ctx: dict[str, Any]) -> int:
    """Close the windows that ended and record their summaries; returns how many were recorded."""
    return await record_ended_windows(worker_context(ctx), now_ms=now_ms())


async def record_ended_windows(context: WorkerContext, *, now_ms: int) -> int:
    """Close the failure windows ended by ``now_ms`` and record one summary event for each that saw more
    than its first failure.  A report goes from Redis only once its summary has committed."""
    reports = FailureReports(context.queue, window_seconds=context.settings.login_key_window_seconds)
    await reports.close_ended(now_ms=now_ms)
    recorded = 0
    for report in await reports.claim_closed(lease_seconds=REPORT_LEASE_SECONDS):
        if report.adds_to_the_first_event:
            async with unit_of_work(context.db, context.queue) as unit:
                summary = await record_failure_summary(unit.session, report)
                if summary is not None:
                    unit.enqueue_after_commit(summary.delivery_ids)
                    recorded += 1
            if summary is not None:
                count_events_recorded("system", 1)
        await reports.forget(report.name)
    if recorded:
        log.info("recorded failed-login summaries", count=recorded)
    return recorded
