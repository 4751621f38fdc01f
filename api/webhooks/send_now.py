"""Test and redeliver: one attempt sent at once, the way the worker sends it.

Claim in one transaction, send outside any, record in a second: no row lock is held while the
endpoint answers.  Only verify-on-save sends inside its transaction (it must roll back on failure).
"""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from api.audit.facts import Audited, AuditFacts
from api.audit.record import Resource
from api.audit.resources import ResourceType
from api.db import Database
from api.errors import Conflict
from api.models import WebhookDelivery
from api.settings import Settings
from api.webhooks.deliveries import claim_attempt, claim_lease_seconds, record_attempt
from api.webhooks.delivery_log import get_delivery
from api.webhooks.sending import send_attempt


async def request_redelivery(session: AsyncSession, account_id: str, *, delivery_id: str) -> Audited[WebhookDelivery]:
    """``auditTrailRedeliver``: the delivery must be the account's; it is sent once this is recorded."""
    delivery = await get_delivery(session, account_id, delivery_id)
    return Audited(
        delivery,
        AuditFacts(
            affected_resource=Resource(ResourceType.ACCOUNT, account_id),
            related_resource=Resource(ResourceType.AUDIT_TRAIL_DELIVERY, delivery.id),
        ),
    )


async def deliver_now(
    db: Database,
    http: httpx.AsyncClient,
    *,
    account_id: str,
    delivery_id: str,
    settings: Settings,
    service_secret_key: str,
) -> WebhookDelivery:
    """Send the next attempt of the delivery now, whatever its state, and return it as recorded."""
    async with db.transaction() as session:
        claimed = await claim_attempt(
            session, delivery_id, lease_seconds=claim_lease_seconds(settings), only_if_due=False
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
    async with db.transaction() as session:
        await record_attempt(session, claimed, outcome, settings)
        return await get_delivery(session, account_id, delivery_id)
