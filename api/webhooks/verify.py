"""Verify-on-save: the mutation's own payload must reach the endpoint before anything commits."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from api.audit.record import RecordedBatch
from api.errors import WebhookVerificationFailed
from api.webhooks.deliveries import attempt_now
from api.webhooks.retry_policy import RetryPolicy
from api.webhooks.sender import Sender


async def verify_on_save(
    session: AsyncSession,
    sender: Sender,
    retry_policy: RetryPolicy,
    batch: RecordedBatch,
    *,
    endpoint: str,
) -> str:
    """Send the batch's delivery now and record it as delivered; returns its id.

    Anything but a 2xx raises WEBHOOK_VERIFICATION_FAILED, so the caller's transaction (the
    webhook change, the event, the delivery) rolls back and nothing is recorded.
    """
    if len(batch.delivery_ids) != 1:
        raise RuntimeError(f"verify-on-save expects one delivery for the saved webhook, got {batch.delivery_ids}")
    delivery_id = batch.delivery_ids[0]
    sent = await attempt_now(session, sender, retry_policy, delivery_id, record_failure=False)
    if not sent.outcome.is_success:
        answer = (
            f"answered HTTP {sent.outcome.status_code}"
            if sent.outcome.status_code is not None
            else f"could not be reached ({sent.outcome.error})"
        )
        raise WebhookVerificationFailed(
            f"webhook verification failed: {endpoint} {answer}; the endpoint must answer the signed"
            " payload with a 2xx status. Nothing was changed."
        )
    return delivery_id
