"""Mutations of the audit trail: ingestion from other services, and the retention setting."""

from __future__ import annotations

from functools import partial

import strawberry

from api.accounts import accounts
from api.audit.ingest import IngestLimits, ingest_events
from api.audit.record import now_ms
from api.graphql.accounts.types import Account
from api.graphql.audit.inputs import AuditTrailEventInput
from api.graphql.audit.types import AuditTrailEntry
from api.graphql.audited import AuditedMutation
from api.graphql.context import AppInfo
from api.graphql.permissions import ADMIN_ONLY, Ingestors
from api.models import EventType
from api.observability import count_events_recorded
from api.webhooks.unit_of_work import unit_of_work

SET_RETENTION = AuditedMutation("account.set_retention", EventType.UPDATE, roles=ADMIN_ONLY)


@strawberry.type
class AuditMutation:
    @strawberry.mutation(
        description="Record up to 1,000 events from another service, all or nothing. SERVICE or ADMIN. Events"
        " whose externalId the account already has are not recorded again: the stored entry is returned.",
        permission_classes=[Ingestors],
    )
    async def audit_trail_record_events(
        self, info: AppInfo, events: list[AuditTrailEventInput]
    ) -> list[AuditTrailEntry]:
        context = info.context
        identity = await context.identity()
        incoming = [event.to_incoming() for event in events]
        limits = IngestLimits(now_ms=now_ms(), retention_days=identity.retention_days)
        async with unit_of_work(context.services.db, context.services.queue) as unit:
            batch = await ingest_events(
                unit.session,
                incoming,
                limits,
                account_id=identity.account_id,
                account_name=identity.account_name,
                recorded_by=identity.key_id,
            )
            unit.enqueue_after_commit(batch.delivery_ids)
        count_events_recorded("ingestion", batch.written)
        return [AuditTrailEntry.from_event(event) for event in batch.entries]

    @strawberry.mutation(description="How many days the account's events are kept (1-3650). ADMIN only.")
    async def audit_trail_set_retention(self, info: AppInfo, days: int) -> Account:
        changed = await SET_RETENTION.run(info, {"days": days}, partial(accounts.set_retention, days=days))
        return Account.from_row(changed.result)
