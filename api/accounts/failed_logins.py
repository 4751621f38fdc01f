"""The events of failed logins: a window's first failure as it happened, then one summary of the window.

Both are ``api_key.login_failed`` on the key's USER, recorded by the worker (or, when Redis is away,
by the API itself) in the key's account.  A key id that names no key has no account to record in:
its failures are counted and limited like any other, and recorded nowhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.failure_reports import ClosedReport
from api.accounts.keys import find_key_with_account
from api.accounts.login import login_facts
from api.audit.actors import key_actor
from api.audit.record import EventDraft, RecordedBatch, record_events
from api.audit.sanitize import sanitize_args
from api.models import EventType

FAILED_LOGIN_ACTION = "api_key.login_failed"
RECORD_FAILED_LOGIN_JOB = "record_failed_login"
"""The worker's job that records a window's first failure (``workers.failed_logins``)."""
LOGIN_MUTATION = "apiKeyUser"


@dataclass(frozen=True, kw_only=True)
class LoginAttempt:
    """One ``apiKeyUser`` as the request saw it: what its event says if it fails."""

    key_id: str
    remote_ip: str | None
    request_id: str
    user_agent: str | None
    timestamp_ms: int


async def record_failed_login(session: AsyncSession, attempt: LoginAttempt) -> RecordedBatch | None:
    """The event of one failed login, shaped as any mutation's event; None for a key id that names no key."""
    return await _record(
        session,
        attempt.key_id,
        timestamp_ms=attempt.timestamp_ms,
        context={"mutation": LOGIN_MUTATION, "requestId": attempt.request_id, "userAgent": attempt.user_agent},
        data={"args": sanitize_args({"id": attempt.key_id})},
        remote_ip=attempt.remote_ip,
    )


async def record_failure_summary(session: AsyncSession, report: ClosedReport) -> RecordedBatch | None:
    """One event for a window's failures: ``data.failedAttempts`` (the first included), ``limitedAttempts``,
    ``window`` (milliseconds, as ``timestamp``) and ``addresses``; None for a key id that names no key."""
    return await _record(
        session,
        report.key_id,
        timestamp_ms=report.ends_ms,
        context={"mutation": LOGIN_MUTATION},
        data={
            "failedAttempts": report.failed,
            "limitedAttempts": report.limited,
            "window": {"from": report.started_ms, "to": report.ends_ms},
            "addresses": report.addresses,
        },
        remote_ip=None,
    )


async def _record(
    session: AsyncSession,
    key_id: str,
    *,
    timestamp_ms: int,
    context: dict[str, Any],
    data: dict[str, Any],
    remote_ip: str | None,
) -> RecordedBatch | None:
    found = await find_key_with_account(session, key_id)
    if found is None:
        return None
    key, account = found
    facts = login_facts(key.id)
    draft = EventDraft(
        action=FAILED_LOGIN_ACTION,
        event_type=EventType.CREATE,
        actor=key_actor(key.id),
        timestamp_ms=timestamp_ms,
        context=context,
        data=data,
        remote_ip=remote_ip,
        affected_resource=facts.affected_resource,
        related_resource=facts.related_resource,
    )
    return await record_events(session, [draft], account_id=account.id, account_name=account.name, recorded_by=key.id)
