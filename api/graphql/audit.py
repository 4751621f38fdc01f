"""GraphQL surface of the audit trail: search, one entry, suggestions, ingestion and retention."""

from __future__ import annotations

import strawberry

from api.accounts.accounts import set_retention
from api.audit.ingest import IngestLimits, ingest_events
from api.audit.record import Resource, now_ms
from api.audit.search import get_event, search_events, suggest_values
from api.graphql.accounts import Account
from api.graphql.audit_inputs import AuditTrailEventInput, SearchInput, SearchSuggestionsInput
from api.graphql.audit_types import AuditTrailEntry, AuditTrailEntryConnection, SearchSuggestionsOutput
from api.graphql.audited import Audited
from api.graphql.context import AppInfo
from api.models import Role
from api.webhooks.queue import enqueue_deliveries

READ_ROLES = (Role.ADMIN, Role.READER)
INGEST_ROLES = (Role.SERVICE, Role.ADMIN)


@strawberry.type
class AuditQuery:
    @strawberry.field(description="The account's audit trail, filtered and keyset-paged. ADMIN or READER.")
    async def search_audit_trail_entries(self, info: AppInfo, input: SearchInput) -> AuditTrailEntryConnection:
        identity = await info.context.require(*READ_ROLES)
        page_request = input.page_request(info.context.services.settings)
        async with info.context.services.db.transaction() as session:
            page = await search_events(session, identity.account_id, input.filters(), page_request)
        return AuditTrailEntryConnection.from_page(page)

    @strawberry.field(
        description="Values of fields with counts under the other filters (the filter sidebar). ADMIN or READER."
    )
    async def search_audit_trail_entries_suggestions(
        self, info: AppInfo, input: SearchSuggestionsInput
    ) -> SearchSuggestionsOutput:
        identity = await info.context.require(*READ_ROLES)
        async with info.context.services.db.transaction() as session:
            suggestions = await suggest_values(session, identity.account_id, input.filters(), input.field_names())
        return SearchSuggestionsOutput.from_suggestions(suggestions)

    @strawberry.field(description="One entry of the account's audit trail, or null. ADMIN or READER.")
    async def audit_trail_entry(self, info: AppInfo, id: strawberry.ID) -> AuditTrailEntry | None:
        identity = await info.context.require(*READ_ROLES)
        async with info.context.services.db.transaction() as session:
            event = await get_event(session, identity.account_id, str(id))
        return AuditTrailEntry.from_event(event) if event else None


@strawberry.type
class AuditMutation:
    @strawberry.mutation(
        description="Record up to 1,000 events from another service, all or nothing. SERVICE or ADMIN."
    )
    async def audit_trail_record_events(
        self, info: AppInfo, events: list[AuditTrailEventInput]
    ) -> list[AuditTrailEntry]:
        identity = await info.context.require(*INGEST_ROLES)
        incoming = [event.to_incoming() for event in events]
        limits = IngestLimits(now_ms=now_ms(), retention_days=identity.retention_days)
        async with info.context.services.db.transaction() as session:
            batch = await ingest_events(
                session,
                incoming,
                limits,
                account_id=identity.account_id,
                account_name=identity.account_name,
                recorded_by=identity.key_id,
            )
        await enqueue_deliveries(info.context.services.queue, batch.delivery_ids)
        return [AuditTrailEntry.from_event(event) for event in batch.events]

    @strawberry.mutation(
        description="How many days the account's events are kept (1-3650). ADMIN only.",
        extensions=[Audited("account.set_retention")],
    )
    async def audit_trail_set_retention(self, info: AppInfo, days: int) -> Account:
        identity = await info.context.require(Role.ADMIN)
        account = await set_retention(info.context.session, identity.account_id, days)
        info.context.audit.affected_resource = Resource("account", account.id)
        return Account(id=strawberry.ID(account.id), name=account.name, retention_days=account.retention_days)
