"""Saving, changing and deleting saved filters, each audited.

Any key that reads the trail may save views, as any Spacelift user may; a view is changed by the
key that saved it, or, when public, by an ADMIN (``api.audit.saved_filters``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from api.audit import saved_filters
from api.audit.facts import Audited
from api.audit.saved_filters import Owner, SavedFilterChange
from api.graphql.audited import AuditedMutation, Work
from api.graphql.context import AppInfo
from api.graphql.permissions import READ_ROLES
from api.graphql.saved_filters.inputs import SavedFilterInput
from api.graphql.saved_filters.types import SavedFilter
from api.models import EventType, Role
from api.models import SavedFilter as SavedFilterRow

CREATE_FILTER = AuditedMutation("saved_filter.create", EventType.CREATE, roles=READ_ROLES)
UPDATE_FILTER = AuditedMutation("saved_filter.update", EventType.UPDATE, roles=READ_ROLES)
DELETE_FILTER = AuditedMutation("saved_filter.delete", EventType.DELETE, roles=READ_ROLES)

OwnedChange = Callable[[AsyncSession, str, Owner], Awaitable[Audited[SavedFilterRow]]]
"""A domain function of saved filters given the unit's session, the account id and the calling key."""


def as_owner(info: AppInfo, change: OwnedChange) -> Work[SavedFilterRow]:
    """``change`` for the calling key, inside the mechanism's transaction (which has just resolved the caller)."""

    async def work(session: AsyncSession, account_id: str) -> Audited[SavedFilterRow]:
        caller = await info.context.identity(session)
        return await change(session, account_id, Owner(key_id=caller.key_id, is_admin=caller.role is Role.ADMIN))

    return work


@strawberry.type
class SavedFiltersMutation:
    @strawberry.mutation(description="Save a named view for this key (or, public, for the account). ADMIN or READER.")
    async def saved_filter_create(self, info: AppInfo, input: SavedFilterInput) -> SavedFilter:
        create = partial(saved_filters.create_saved_filter, draft=input.to_draft())
        created = await CREATE_FILTER.run(info, {"input": input}, as_owner(info, create))
        return SavedFilter.from_row(created.result)

    @strawberry.mutation(
        description="Rename a saved filter, replace its data or change isPublic; what is left out is kept."
        " The key that saved it, or an ADMIN for a public one."
    )
    async def saved_filter_update(
        self,
        info: AppInfo,
        id: strawberry.ID,
        name: str | None = None,
        data: str | None = None,
        is_public: bool | None = None,
    ) -> SavedFilter:
        change = SavedFilterChange(name=name, data=data, is_public=is_public)
        update = partial(saved_filters.update_saved_filter, filter_id=str(id), change=change)
        args = {"id": id, "name": name, "data": data, "isPublic": is_public}
        given = {key: value for key, value in args.items() if value is not None}
        updated = await UPDATE_FILTER.run(info, given, as_owner(info, update))
        return SavedFilter.from_row(updated.result)

    @strawberry.mutation(
        description="Delete a saved filter and return it. The key that saved it, or an ADMIN for a public one."
    )
    async def saved_filter_delete(self, info: AppInfo, id: strawberry.ID) -> SavedFilter:
        delete = partial(saved_filters.delete_saved_filter, filter_id=str(id))
        deleted = await DELETE_FILTER.run(info, {"id": id}, as_owner(info, delete))
        return SavedFilter.from_row(deleted.result)
