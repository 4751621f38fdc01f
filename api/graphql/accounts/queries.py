"""Queries of accounts and keys."""

from __future__ import annotations

import strawberry

from api.accounts import keys
from api.graphql.accounts.types import ApiKey, Viewer
from api.graphql.context import AppInfo
from api.graphql.permissions import AdminOnly, AnyKey


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
