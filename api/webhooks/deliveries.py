"""Claim, send and record one attempt inside the caller's transaction (verify-on-save, test, redeliver)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from api.errors import Conflict
from api.webhooks.attempts import claim_attempt, claim_lease_seconds, record_attempt
from api.webhooks.retry_policy import AttemptOutcome, NextStep, RetryPolicy
from api.webhooks.sender import Sender


@dataclass(frozen=True)
class SentAttempt:
    outcome: AttemptOutcome
    step: NextStep | None


async def attempt_now(
    session: AsyncSession,
    sender: Sender,
    retry_policy: RetryPolicy,
    delivery_id: str,
    *,
    record_failure: bool = True,
) -> SentAttempt:
    """Claim, send and record one attempt inside the caller's transaction (verify, test, redeliver).

    With ``record_failure=False`` a failed attempt is left unrecorded: the caller rolls back.
    """
    claimed = await claim_attempt(
        session, delivery_id, lease_seconds=claim_lease_seconds(sender.timeout_seconds), only_if_due=False
    )
    if claimed is None:
        raise Conflict(f"delivery {delivery_id!r} is being sent by a worker right now; try again shortly")
    outcome = await sender.send(claimed)
    if not outcome.is_success and not record_failure:
        return SentAttempt(outcome, None)
    step = retry_policy.next_step(outcome, attempt=claimed.attempt, retry_on_failure=claimed.retry_on_failure)
    is_recorded = await record_attempt(session, claimed, outcome, step)
    return SentAttempt(outcome, step if is_recorded else None)
