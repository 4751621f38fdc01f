"""Queries of the webhook."""

from __future__ import annotations

import strawberry

from api.graphql.context import AppInfo
from api.graphql.permissions import AdminOnly
from api.graphql.webhooks.types import AuditTrailWebhook
from api.webhooks.config import find_live_webhook


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
