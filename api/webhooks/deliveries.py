"""Delivery attempts: claim one, record its outcome and the next step, find due deliveries."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from api.errors import Conflict
from api.models import DeliveryStatus, WebhookDelivery
from api.settings import Settings
from api.webhooks.retry_policy import AttemptOutcome, NextStep, RetryPolicy
from api.webhooks.sending import ClaimedAttempt, send_attempt

# The claim is a conditional update: the row must still be due, and a row another worker holds
# locked is skipped rather than waited for.  It moves next_attempt_at a lease ahead, so the sweeper
# leaves the attempt alone while it is in flight, and finds it again if the worker dies mid-send.
_CLAIM = text(
    """
    WITH claimed AS (
        UPDATE webhook_deliveries AS d
        SET attempts = d.attempts + 1,
            status = 'PENDING',
            next_attempt_at = now() + make_interval(secs => :lease_seconds),
            updated_at = now()
        WHERE d.id = (
            SELECT id FROM webhook_deliveries
            WHERE id = :delivery_id
              AND (:any_state OR (status = 'PENDING' AND next_attempt_at <= now()))
            FOR UPDATE SKIP LOCKED
        )
        RETURNING d.id, d.webhook_id, d.event_id, d.event_created_at, d.attempts
    )
    SELECT claimed.id, claimed.webhook_id, claimed.event_id, claimed.attempts,
           w.endpoint, w.secret_encrypted, w.custom_headers_encrypted, w.retry_on_failure, e.body
    FROM claimed
    JOIN webhooks AS w ON w.id = claimed.webhook_id
    LEFT JOIN audit_events AS e ON e.id = claimed.event_id AND e.created_at = claimed.event_created_at
    """
)

# Guarded by the attempt number and status: a late result of an attempt whose lease ran out (and
# that was claimed again), or of one settled meanwhile (its webhook deleted), must not overwrite it.
# The webhook's health is updated in the same statement (one round trip).  A success that changes
# nothing the API shows (whole seconds, no failures to reset) leaves the webhook row alone: every
# concurrent delivery of a busy webhook would otherwise queue on that one row's lock until commit.
_RECORD = text(
    """
    WITH recorded AS (
        UPDATE webhook_deliveries
        SET status = :status,
            next_attempt_at = CASE WHEN :status = 'PENDING'
                                   THEN now() + make_interval(secs => :retry_in_seconds) END,
            last_status_code = :status_code,
            last_error = :error,
            last_latency_ms = :latency_ms,
            response_snippet = :response_snippet,
            delivered_at = CASE WHEN :status = 'DELIVERED' THEN now() ELSE delivered_at END,
            updated_at = now()
        WHERE id = :delivery_id AND attempts = :attempt AND status = 'PENDING'
        RETURNING id, webhook_id
    ), health AS (
        UPDATE webhooks
        SET last_delivery_at = now(),
            last_success_at = CASE WHEN :is_success THEN now() ELSE last_success_at END,
            consecutive_failures = CASE WHEN :is_success THEN 0 ELSE consecutive_failures + 1 END
        WHERE id = (SELECT webhook_id FROM recorded)
          AND NOT (:is_success AND consecutive_failures = 0
                   AND coalesce(last_success_at >= date_trunc('second', now())
                                AND last_delivery_at >= date_trunc('second', now()), false))
        RETURNING 1
    )
    SELECT id FROM recorded
    """
)


def claim_lease_seconds(settings: Settings) -> float:
    """How long a claimed attempt is left alone: the send is bounded by the timeout, plus room to record."""
    return settings.webhook_timeout_seconds * 3


async def claim_attempt(
    session: AsyncSession, delivery_id: str, *, lease_seconds: float, only_if_due: bool = True
) -> ClaimedAttempt | None:
    """Take the next attempt of a delivery; None when it is not due, settled, or held by another worker.

    ``only_if_due=False`` takes it whatever its state (redelivery, verify-on-save, test).
    """
    row = (
        await session.execute(
            _CLAIM, {"delivery_id": delivery_id, "any_state": not only_if_due, "lease_seconds": lease_seconds}
        )
    ).one_or_none()
    if row is None:
        return None
    return ClaimedAttempt(
        delivery_id=str(row.id),
        webhook_id=str(row.webhook_id),
        event_id=str(row.event_id),
        attempt=int(row.attempts),
        endpoint=str(row.endpoint),
        secret_encrypted=str(row.secret_encrypted),
        custom_headers_encrypted=row.custom_headers_encrypted,
        retry_on_failure=bool(row.retry_on_failure),
        body=row.body,
    )


async def record_attempt(
    session: AsyncSession, claimed: ClaimedAttempt, outcome: AttemptOutcome, step: NextStep
) -> bool:
    """Store the outcome, the next step and the webhook's health; False if the attempt was superseded."""
    updated = (
        await session.execute(
            _RECORD,
            {
                "delivery_id": claimed.delivery_id,
                "attempt": claimed.attempt,
                "status": step.status.value,
                "retry_in_seconds": step.retry_in_seconds or 0.0,
                "status_code": outcome.status_code,
                "error": outcome.error,
                "latency_ms": outcome.latency_ms,
                "response_snippet": outcome.response_snippet,
                "is_success": outcome.is_success,
            },
        )
    ).one_or_none()
    return updated is not None


@dataclass(frozen=True)
class SentAttempt:
    outcome: AttemptOutcome
    step: NextStep | None


async def attempt_now(
    session: AsyncSession,
    http: httpx.AsyncClient,
    delivery_id: str,
    *,
    settings: Settings,
    service_secret_key: str,
    record_failure: bool = True,
) -> SentAttempt:
    """Claim, send and record one attempt inside the caller's transaction (verify, test, redeliver).

    With ``record_failure=False`` a failed attempt is left unrecorded: the caller rolls back.
    """
    claimed = await claim_attempt(session, delivery_id, lease_seconds=claim_lease_seconds(settings), only_if_due=False)
    if claimed is None:
        raise Conflict(f"delivery {delivery_id!r} is being sent by a worker right now; try again shortly")
    outcome = await send_attempt(
        http,
        claimed,
        service_secret_key=service_secret_key,
        timeout_seconds=settings.verify_timeout_seconds,
        private_allowed=settings.private_endpoints_allowed,
    )
    if not outcome.is_success and not record_failure:
        return SentAttempt(outcome, None)
    step = RetryPolicy.from_settings(settings).next_step(
        outcome, attempt=claimed.attempt, retry_on_failure=claimed.retry_on_failure
    )
    is_recorded = await record_attempt(session, claimed, outcome, step)
    return SentAttempt(outcome, step if is_recorded else None)


@dataclass(frozen=True)
class DueDelivery:
    delivery_id: str
    attempts: int
    overdue_seconds: float


async def find_due_deliveries(session: AsyncSession, limit: int) -> list[DueDelivery]:
    """Pending deliveries whose time has come, oldest first (served by the partial index ``_due``)."""
    result = await session.execute(
        select(
            col(WebhookDelivery.id),
            col(WebhookDelivery.attempts),
            text("extract(epoch FROM now() - next_attempt_at)"),
        )
        .where(col(WebhookDelivery.status) == DeliveryStatus.PENDING.value)
        .where(col(WebhookDelivery.next_attempt_at) <= text("now()"))
        .order_by(col(WebhookDelivery.next_attempt_at))
        .limit(limit)
    )
    return [DueDelivery(str(row[0]), int(row[1]), float(row[2])) for row in result.all()]


async def cancel_pending_deliveries(session: AsyncSession, webhook_id: str, *, reason: str) -> None:
    """Settle a webhook's pending deliveries as FAILED (it was deleted; they stay visible for redelivery)."""
    await session.execute(
        text(
            """
            UPDATE webhook_deliveries
            SET status = 'FAILED', next_attempt_at = NULL, last_error = :reason, updated_at = now()
            WHERE webhook_id = :webhook_id AND status = 'PENDING'
            """
        ),
        {"webhook_id": webhook_id, "reason": reason},
    )
