"""Delivery rows and their attempts: claim one, record its outcome, find due deliveries, cancel pending ones.

Only SQL here: what an attempt sends is ``sender``'s, what follows it ``retry_policy``'s.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlmodel import col

from api.models import DeliveryStatus, WebhookDelivery, WebhookDeliveryAttempt
from api.webhooks.retry_policy import AttemptOutcome, NextStep

LEASE_TIMEOUTS = 3
"""A claimed attempt is left alone for three send timeouts: the send, and ample room to claim and record."""


@dataclass(frozen=True, kw_only=True)
class ClaimedAttempt:
    """One attempt of a delivery, claimed: everything needed to send it, secrets still encrypted."""

    delivery_id: str
    event_id: str
    attempt: int
    endpoint: str
    secret_encrypted: str | None
    """None for an unsigned webhook."""
    custom_headers_encrypted: str | None
    retry_on_failure: bool
    body: str | None
    """None when the event is gone (retention) and there is nothing left to send."""


# The claim is a conditional update: the row must still be due, and a row another worker holds
# locked is skipped rather than waited for.  It moves next_attempt_at a lease ahead, so the sweeper
# leaves the attempt alone while it is in flight, and finds it again if the worker dies mid-send.
_CLAIM_SQL = """
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
    SELECT claimed.id, claimed.event_id, claimed.attempts,
           w.endpoint, w.secret_encrypted, w.custom_headers_encrypted, w.retry_on_failure, e.body{commit_mode}
    FROM claimed
    JOIN webhooks AS w ON w.id = claimed.webhook_id
    LEFT JOIN audit_events AS e ON e.id = claimed.event_id AND e.created_at = claimed.event_created_at
    """
_CLAIM = text(_CLAIM_SQL.format(commit_mode=""))
# The same claim, committed without waiting for its WAL to reach the disk (an fsync, 3-9 ms on a
# busy disk, on the way of every delivery): set_config(..., true) is SET LOCAL, so it holds for this
# statement's own transaction and its commit, and for nothing after.  Evaluated per row claimed.
_CLAIM_LEASE = text(_CLAIM_SQL.format(commit_mode=", set_config('synchronous_commit', 'off', true)"))

# Guarded by the attempt number and status: a late result of an attempt whose lease ran out (and
# that was claimed again), or of one settled meanwhile (its webhook deleted), must not overwrite it.
# The attempt's history row and the webhook's health are written by the same statement (one round
# trip).  A success that changes nothing the API shows (whole seconds, no failures to reset) leaves
# the webhook row alone: every concurrent delivery of a busy webhook would otherwise queue on that
# one row's lock until commit.
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
    ), history AS (
        INSERT INTO webhook_delivery_attempts (
            delivery_id, attempt, status_code, error, latency_ms, request_headers, response_headers, response_snippet)
        SELECT id, :attempt, :status_code, :error, :latency_ms,
               CAST(:request_headers AS jsonb), CAST(:response_headers AS jsonb), :response_snippet
        FROM recorded
        RETURNING 1
    ), health AS (
        UPDATE webhooks
        SET last_delivery_at = now(),
            last_success_at = CASE WHEN :is_success THEN now() ELSE last_success_at END,
            consecutive_failures = CASE WHEN :is_success THEN 0 ELSE consecutive_failures + 1 END,
            failing_since = CASE WHEN :is_success THEN NULL ELSE coalesce(failing_since, now()) END
        WHERE id = (SELECT webhook_id FROM recorded)
          AND NOT (:is_success AND consecutive_failures = 0
                   AND coalesce(last_success_at >= date_trunc('second', now())
                                AND last_delivery_at >= date_trunc('second', now()), false))
        RETURNING 1
    )
    SELECT id FROM recorded
    """
)


Executor = AsyncSession | AsyncConnection
"""Where a claim or a record runs: a transaction's session (verify-on-save's, with the webhook change),
or a connection in autocommit (``Database.statement``): each is one statement."""


def claim_lease_seconds(send_timeout_seconds: float) -> float:
    """How long a claimed attempt sent with this timeout is left alone before the sweeper takes it back."""
    return send_timeout_seconds * LEASE_TIMEOUTS


async def claim_attempt(
    executor: Executor, delivery_id: str, *, lease_seconds: float, only_if_due: bool = True, durable: bool = True
) -> ClaimedAttempt | None:
    """Take the next attempt of a delivery; None when it is not due, settled, or held by another worker.

    ``only_if_due=False`` takes it whatever its state (redelivery, verify-on-save, test).
    ``durable=False`` commits the claim asynchronously (``synchronous_commit = off``): only for a claim
    that is its own transaction (``Database.statement``), since the setting holds until the
    transaction's end.  The claim is a lease: lost in a database crash, the delivery is due again and
    is sent again (a duplicate, with the same delivery id), never lost.  docs/design.md, section 7.
    """
    row = (
        await executor.execute(
            _CLAIM if durable else _CLAIM_LEASE,
            {"delivery_id": delivery_id, "any_state": not only_if_due, "lease_seconds": lease_seconds},
        )
    ).one_or_none()
    if row is None:
        return None
    return ClaimedAttempt(
        delivery_id=str(row.id),
        event_id=str(row.event_id),
        attempt=int(row.attempts),
        endpoint=str(row.endpoint),
        secret_encrypted=row.secret_encrypted,
        custom_headers_encrypted=row.custom_headers_encrypted,
        retry_on_failure=bool(row.retry_on_failure),
        body=row.body,
    )


async def record_attempt(executor: Executor, claimed: ClaimedAttempt, outcome: AttemptOutcome, step: NextStep) -> bool:
    """Store the outcome, the next step and the webhook's health; False if the attempt was superseded."""
    updated = (
        await executor.execute(
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
                "request_headers": orjson.dumps(outcome.request_headers).decode(),
                "response_headers": None
                if outcome.response_headers is None
                else orjson.dumps(outcome.response_headers).decode(),
            },
        )
    ).one_or_none()
    return updated is not None


async def is_attempt_recorded(session: AsyncSession, delivery_id: str, attempt: int) -> bool:
    """Whether ``attempt`` of the delivery has its outcome stored (an attempt whose worker died has none)."""
    found = await session.scalar(
        select(col(WebhookDeliveryAttempt.attempt)).where(
            col(WebhookDeliveryAttempt.delivery_id) == delivery_id, col(WebhookDeliveryAttempt.attempt) == attempt
        )
    )
    return found is not None


@dataclass(frozen=True, kw_only=True)
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
    return [
        DueDelivery(delivery_id=str(row[0]), attempts=int(row[1]), overdue_seconds=float(row[2]))
        for row in result.all()
    ]


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
