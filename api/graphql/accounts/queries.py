"""Queries of accounts and keys."""

from __future__ import annotations

import strawberry

from api import __version__
from api.accounts import keys
from api.graphql.accounts.types import ApiKey, DebugInfo, Viewer
from api.graphql.context import AppInfo
from api.graphql.permissions import AdminOnly, AnyKey, Readers


@strawberry.type
class AccountsQuery:
    @strawberry.field(description="Who the bearer token belongs to.", permission_classes=[AnyKey])
    async def viewer(self, info: AppInfo) -> Viewer:
        return Viewer.from_identity(await info.context.identity())

    @strawberry.field(
        description="The account's API keys, revoked ones included. ADMIN only.", permission_classes=[AdminOnly]
    )
    async def api_keys(self, info: AppInfo) -> list[ApiKey]:
        identity = await info.context.identity()
        async with info.context.reading() as session:
            rows = await keys.list_keys(session, identity.account_id)
        return [ApiKey.from_row(row) for row in rows]

    @strawberry.field(description="How many days the account's events are kept.", permission_classes=[Readers])
    async def audit_trail_retention_days(self, info: AppInfo) -> int:
        return (await info.context.identity()).retention_days

    @strawberry.field(description="Which build answers. Any key.", permission_classes=[AnyKey])
    async def debug_info(self, info: AppInfo) -> DebugInfo:
        return DebugInfo(
            commit_sha=info.context.services.settings.commit_sha, self_hosted_version="", version=__version__
        )
