"""One attempt of one delivery, made now: claim it, send it, record what the endpoint did.

The worker, the test and redeliver claim in one statement, send outside any transaction, and record
in a second statement, each its own transaction in autocommit (``Database.statement``: one round
trip each instead of three): no row lock is held while the endpoint answers, and the lease keeps
other workers off meanwhile.  Only verify-on-save sends inside its caller's transaction: a refused
payload must roll back the webhook change that asked for it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from api.audit.facts import Audited, AuditFacts
from api.audit.record import Resource
from api.audit.resources import ResourceType
from api.db import Database
from api.errors import Conflict, WebhookVerificationFailed
from api.models import Webhook, WebhookDelivery, shown_id
from api.observability import count_attempt
from api.webhooks.attempts import (
    ClaimedAttempt,
    Executor,
    claim_attempt,
    claim_lease_seconds,
    is_attempt_recorded,
    record_attempt,
)
from api.webhooks.delivery_log import get_delivery
from api.webhooks.retry_policy import DELIVERED, FAILED, AttemptOutcome, NextStep, RetryPolicy
from api.webhooks.sender import Sender

ATTEMPTS_EXHAUSTED = (
    "the attempt limit was reached: earlier attempts ended without a recorded outcome (the worker stopped or"
    " the answer could not be stored); nothing more is sent, redeliver to try again"
)


@dataclass(frozen=True, kw_only=True)
class DeliveryAttemptResult:
    """An attempt made: what the endpoint did and what follows."""

    event_id: str
    attempt: int
    outcome: AttemptOutcome
    next_step: NextStep | None
    """None when a newer claim superseded this attempt before it was recorded."""


async def deliver_due(
    db: Database, sender: Sender, retry_policy: RetryPolicy, *, delivery_id: str
) -> DeliveryAttemptResult | None:
    """The worker's attempt: made only if the delivery is due and nobody holds it; None otherwise."""
    async with db.statement() as connection:
        # Its own transaction, so it may commit without waiting for the disk: a lease, see claim_attempt.
        claimed = await claim_attempt(
            connection, delivery_id, lease_seconds=claim_lease_seconds(sender.timeout_seconds), durable=False
        )
    if claimed is None:
        return None
    if claimed.attempt > retry_policy.max_attempts(
        retry_on_failure=claimed.retry_on_failure
    ) and not await _is_requeued(db, claimed):
        # Earlier attempts ended without a recorded outcome (a killed worker, a failed record): the
        # limit holds all the same, and nothing more is sent.
        outcome = AttemptOutcome(error=ATTEMPTS_EXHAUSTED, is_retryable_error=False)
        async with db.statement() as connection:
            is_recorded = await record_attempt(connection, claimed, outcome, FAILED)
        return _result(claimed, outcome, FAILED if is_recorded else None)
    return await _send_and_record(db, sender, retry_policy, claimed)


async def _is_requeued(db: Database, claimed: ClaimedAttempt) -> bool:
    """Past the limit with the previous attempt recorded: a person queued it again ("Redeliver all
    failed"), since a recorded attempt at the limit settles the delivery as FAILED, never PENDING."""
    async with db.transaction() as session:
        return await is_attempt_recorded(session, claimed.delivery_id, claimed.attempt - 1)


async def deliver_now(
    db: Database, sender: Sender, retry_policy: RetryPolicy, *, delivery_id: str
) -> DeliveryAttemptResult:
    """A new attempt now, whatever the delivery's state (test); CONFLICT while a worker claims or records it."""
    async with db.statement() as connection:
        claimed = await _claim_now(connection, sender, delivery_id)
    return await _send_and_record(db, sender, retry_policy, claimed)


async def prepare_redelivery(session: AsyncSession, account_id: str, *, delivery_id: str) -> Audited[WebhookDelivery]:
    """``auditTrailRedeliver``'s audited part: the delivery must be the account's (NOT_FOUND records
    nothing); ``redeliver`` sends it once this is recorded."""
    delivery = await _redeliverable(session, account_id, delivery_id)
    facts = AuditFacts(
        affected_resource=Resource(ResourceType.ACCOUNT, account_id),
        related_resource=Resource(ResourceType.AUDIT_TRAIL_DELIVERY, delivery.id),
    )
    return Audited(delivery, facts)


async def redeliver(
    db: Database, sender: Sender, retry_policy: RetryPolicy, *, account_id: str, delivery_id: str
) -> DeliveryAttemptResult:
    """``deliver_now`` for a delivery of ``account_id``; NOT_FOUND for any other."""
    async with db.transaction() as session:
        await _redeliverable(session, account_id, delivery_id)
    return await deliver_now(db, sender, retry_policy, delivery_id=delivery_id)


async def _redeliverable(session: AsyncSession, account_id: str, delivery_id: str) -> WebhookDelivery:
    """The account's delivery, unless its webhook was deleted: a customer who deleted a webhook is
    promised that its endpoint gets nothing more (but the deletion's own payload, sent by the worker).
    Checked again when sending, so a webhook deleted in between is not sent to either."""
    delivery = await get_delivery(session, account_id, delivery_id)
    webhook = await session.get(Webhook, delivery.webhook_id, populate_existing=True)
    if webhook is None or webhook.deleted_at is not None:
        raise Conflict(
            f"delivery {shown_id(delivery_id)} belongs to a deleted webhook, and nothing more is sent to a deleted"
            " webhook's endpoint; auditTrailReplay sends stored events to the current webhook"
        )
    return delivery


async def verify_on_save(session: AsyncSession, sender: Sender, *, delivery_id: str) -> None:
    """Send the saved webhook its own payload inside the caller's transaction and record it delivered.

    Anything but a 2xx raises WEBHOOK_VERIFICATION_FAILED, so the caller's transaction (the webhook
    change, the event, this delivery) rolls back and nothing is recorded.
    """
    claimed = await _claim_now(session, sender, delivery_id)
    outcome = await sender.send(claimed)
    if not outcome.is_success:
        raise WebhookVerificationFailed(verification_failure(claimed.endpoint, outcome))
    await record_attempt(session, claimed, outcome, DELIVERED)


VERIFY_SNIPPET_CHARS = 200
SIGNATURE_REFUSED_STATUSES = (401, 403)


def verification_failure(endpoint: str, outcome: AttemptOutcome) -> str:
    """Why verify-on-save failed, with what the receiver said: its own words usually name the cause."""
    if outcome.status_code is None:
        answer = f"could not be reached ({outcome.error})"
    else:
        answer = f"answered HTTP {outcome.status_code}"
        snippet = " ".join((outcome.response_snippet or "").split())[:VERIFY_SNIPPET_CHARS]
        if snippet:
            answer += f" with {snippet!r}"
    message = (
        f"webhook verification failed: {endpoint} {answer}; the endpoint must answer the signed payload with a"
        " 2xx status. Nothing was changed."
    )
    if outcome.status_code in SIGNATURE_REFUSED_STATUSES:
        message += (
            " A receiver that checks signatures answers this when its secret differs from the one given here:"
            " give both the same secret."
        )
    return message


async def _claim_now(executor: Executor, sender: Sender, delivery_id: str) -> ClaimedAttempt:
    claimed = await claim_attempt(
        executor, delivery_id, lease_seconds=claim_lease_seconds(sender.timeout_seconds), only_if_due=False
    )
    if claimed is None:
        # SKIP LOCKED passed it by: a worker is claiming or recording it at this moment.
        raise Conflict(f"delivery {shown_id(delivery_id)} is being sent by a worker right now; try again shortly")
    return claimed


async def _send_and_record(
    db: Database, sender: Sender, retry_policy: RetryPolicy, claimed: ClaimedAttempt
) -> DeliveryAttemptResult:
    # The claim has committed: no row lock is held while the endpoint answers, only the lease.
    outcome = await sender.send(claimed)
    step = retry_policy.next_step(outcome, attempt=claimed.attempt, retry_on_failure=claimed.retry_on_failure)
    try:
        async with db.statement() as connection:
            is_recorded = await record_attempt(connection, claimed, outcome, step)
    except DBAPIError as refused:
        if refused.connection_invalidated:
            raise  # the database is away: the lease runs out and the sweeper takes the delivery up again
        # The outcome itself could not be stored: record that much instead, so the attempt still counts.
        outcome = AttemptOutcome(
            status_code=outcome.status_code,
            latency_ms=outcome.latency_ms,
            error=f"the endpoint's answer could not be recorded ({type(refused.orig).__name__})",
        )
        step = retry_policy.next_step(outcome, attempt=claimed.attempt, retry_on_failure=claimed.retry_on_failure)
        async with db.statement() as connection:
            is_recorded = await record_attempt(connection, claimed, outcome, step)
    return _result(claimed, outcome, step if is_recorded else None)


def _result(claimed: ClaimedAttempt, outcome: AttemptOutcome, next_step: NextStep | None) -> DeliveryAttemptResult:
    count_attempt(outcome, next_step)
    return DeliveryAttemptResult(
        event_id=claimed.event_id,
        attempt=claimed.attempt,
        outcome=outcome,
        next_step=next_step,
    )
