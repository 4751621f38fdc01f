"""Queries of the webhook."""

from __future__ import annotations

import strawberry

from api.errors import NotFound
from api.graphql.context import AppInfo
from api.graphql.permissions import AdminOnly
from api.graphql.webhooks.types import AuditTrailDelivery, AuditTrailWebhook
from api.webhooks.config import find_deleted_webhook, find_live_webhook
from api.webhooks.delivery_log import get_delivery


@strawberry.type
class WebhooksQuery:
    @strawberry.field(
        description="The account's webhook with its health and delivery log. ADMIN only.",
        permission_classes=[AdminOnly],
    )
    async def audit_trail_webhook(self, info: AppInfo) -> AuditTrailWebhook | None:
        identity = await info.context.identity()
        async with info.context.reading() as session:
            webhook = await find_live_webhook(session, identity.account_id)
        return AuditTrailWebhook.from_row(webhook) if webhook is not None else None

    @strawberry.field(
        description="The account's last deleted webhook while no webhook is set up, so its delivery log (the"
        " final delete payload's delivery among it) stays visible; null otherwise. ADMIN only.",
        permission_classes=[AdminOnly],
    )
    async def audit_trail_deleted_webhook(self, info: AppInfo) -> AuditTrailWebhook | None:
        identity = await info.context.identity()
        async with info.context.reading() as session:
            webhook = await find_deleted_webhook(session, identity.account_id)
        return AuditTrailWebhook.from_row(webhook) if webhook is not None else None

    @strawberry.field(
        description="One delivery of the account's webhooks (a deleted one's too), its attempts, or null. ADMIN only.",
        permission_classes=[AdminOnly],
    )
    async def audit_trail_delivery(self, info: AppInfo, id: strawberry.ID) -> AuditTrailDelivery | None:
        identity = await info.context.identity()
        async with info.context.reading() as session:
            try:
                delivery = await get_delivery(session, identity.account_id, str(id))
            except NotFound:
                return None  # as auditTrailEntry: another account's id is indistinguishable from none
        return AuditTrailDelivery.from_row(delivery)
