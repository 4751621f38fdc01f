"""Replays of the account, in the request's read transaction."""

from __future__ import annotations

import strawberry

from api import webhooks
from api.graphql.context import AppInfo
from api.graphql.permissions import AdminOnly
from api.graphql.replays.types import AuditTrailReplay


@strawberry.type
class ReplaysQuery:
    @strawberry.field(
        description="The account's 50 latest replays, newest first, with their progress. ADMIN only.",
        permission_classes=[AdminOnly],
    )
    async def audit_trail_replays(self, info: AppInfo) -> list[AuditTrailReplay]:
        identity = await info.context.identity()
        async with info.context.reading() as session:
            replays = await webhooks.list_replays(session, identity.account_id)
        return [AuditTrailReplay.from_progress(progress) for progress in replays]
