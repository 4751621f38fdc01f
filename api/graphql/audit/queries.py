"""Queries of the audit trail, on the request's asyncpg connection (``api/audit/search_raw.py``)."""

from __future__ import annotations

import strawberry

from api.audit.search_raw import get_event_on, search_events_on, suggest_values_on
from api.graphql.audit.entry_columns import columns_left_out
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
        async with info.context.raw_reading() as reader:
            page = await search_events_on(
                reader, identity.account_id, input.filters(), page_request, left_out=columns_left_out(info)
            )
        return AuditTrailEntryConnection.from_page(page)

    @strawberry.field(
        description="Values of fields with counts under the other filters (the filter sidebar). ADMIN or READER.",
        permission_classes=[Readers],
    )
    async def search_audit_trail_entries_suggestions(
        self, info: AppInfo, input: SearchSuggestionsInput
    ) -> SearchSuggestionsOutput:
        identity = await info.context.identity()
        async with info.context.raw_reading() as reader:
            suggestions = await suggest_values_on(reader, identity.account_id, input.filters(), input.field_names())
        return SearchSuggestionsOutput.from_suggestions(suggestions)

    @strawberry.field(
        description="One entry of the account's audit trail, or null. ADMIN or READER.", permission_classes=[Readers]
    )
    async def audit_trail_entry(self, info: AppInfo, id: strawberry.ID) -> AuditTrailEntry | None:
        identity = await info.context.identity()
        async with info.context.raw_reading() as reader:
            event = await get_event_on(reader, identity.account_id, str(id))
        return AuditTrailEntry.from_event(event) if event else None
