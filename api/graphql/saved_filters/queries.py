"""Saved filters the calling key sees: the account's public ones and its own."""

from __future__ import annotations

import strawberry

from api.audit import saved_filters
from api.graphql.context import AppInfo
from api.graphql.permissions import Readers
from api.graphql.saved_filters.types import SavedFilter


@strawberry.type
class SavedFiltersQuery:
    @strawberry.field(
        description="The saved filters this key sees (the account's public ones and its own), by type and"
        " name; only those of `type` when given. ADMIN or READER.",
        permission_classes=[Readers],
    )
    async def saved_filters(self, info: AppInfo, type: str | None = None) -> list[SavedFilter]:
        identity = await info.context.identity()
        async with info.context.reading() as session:
            rows = await saved_filters.list_saved_filters(
                session, identity.account_id, identity.key_id, filter_type=type
            )
        return [SavedFilter.from_row(row) for row in rows]

    @strawberry.field(
        description="One saved filter; null if unknown, another account's, or another key's private one."
        " ADMIN or READER.",
        permission_classes=[Readers],
    )
    async def saved_filter(self, info: AppInfo, id: strawberry.ID) -> SavedFilter | None:
        identity = await info.context.identity()
        async with info.context.reading() as session:
            row = await saved_filters.find_saved_filter(session, identity.account_id, identity.key_id, str(id))
        return SavedFilter.from_row(row) if row is not None else None
