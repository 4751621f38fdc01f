"""Queries of the audit trail, all in the request's read transaction."""

from __future__ import annotations

import strawberry

from api.audit.search import get_event, search_events, suggest_values
from api.graphql.audit.inputs import SearchInput, SearchSuggestionsInput
from api.graphql.audit.types import AuditTrailEntry, AuditTrailEntryConnection, SearchSuggestionsOutput
from api.graphql.context import AppInfo
from api.graphql.permissions import Readers


@strawberry.type
class AuditQuery:
    @strawberry.field(
        description="The account's audit trail, filtered and keyset-paged. ADMIN or READER.",
        permission_classes=[Readers],
    )
    async def search_audit_trail_entries(self, info: AppInfo, input: SearchInput) -> AuditTrailEntryConnection:
        identity = await info.context.identity()
        page_request = input.page_request(info.context.services.settings)
        async with info.context.reading() as session:
            page = await search_events(session, identity.account_id, input.filters(), page_request)
        return AuditTrailEntryConnection.from_page(page)

    @strawberry.field(
        description="Values of fields with counts under the other filters (the filter sidebar). ADMIN or READER.",
        permission_classes=[Readers],
    )
    async def search_audit_trail_entries_suggestions(
        self, info: AppInfo, input: SearchSuggestionsInput
    ) -> SearchSuggestionsOutput:
        identity = await info.context.identity()
        async with info.context.reading() as session:
            suggestions = await suggest_values(session, identity.account_id, input.filters(), input.field_names())
        return SearchSuggestionsOutput.from_suggestions(suggestions)

    @strawberry.field(
        description="One entry of the account's audit trail, or null. ADMIN or READER.", permission_classes=[Readers]
    )
    async def audit_trail_entry(self, info: AppInfo, id: strawberry.ID) -> AuditTrailEntry | None:
        identity = await info.context.identity()
        async with info.context.reading() as session:
            event = await get_event(session, identity.account_id, str(id))
        return AuditTrailEntry.from_event(event) if event else None
