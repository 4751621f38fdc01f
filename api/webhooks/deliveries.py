"""Claim, send and record one attempt inside the caller's transaction (verify-on-save, test, redeliver)."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from api.errors import Conflict
from api.settings import Settings
from api.webhooks.attempts import claim_attempt, claim_lease_seconds, record_attempt
from api.webhooks.retry_policy import AttemptOutcome, NextStep, RetryPolicy
from api.webhooks.sending import send_attempt


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
    claimed = await claim_attempt(
        session, delivery_id, lease_seconds=claim_lease_seconds(settings.webhook_timeout_seconds), only_if_due=False
    )
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
