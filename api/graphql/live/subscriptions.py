"""``auditTrailEntryAdded``: entries pushed as they commit, under the search's filters."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from api.graphql.audit.types import AuditTrailEntry
from api.graphql.context import AppInfo
from api.graphql.live.inputs import AuditTrailEntryAddedInput
from api.graphql.permissions import Readers


@strawberry.type
class LiveSubscription:
    @strawberry.subscription(
        description="Entries of the account as they are recorded (after commit), matching the same filters as"
        " searchAuditTrailEntries. Over graphql-transport-ws on /graphql, authenticated in connection_init with"
        ' {"Authorization": "Bearer <jwt>"}. ADMIN or READER. Ends with an error when the key is revoked, the'
        " token expires or the subscriber falls too far behind.",
        permission_classes=[Readers],
    )
    async def audit_trail_entry_added(
        self, info: AppInfo, input: AuditTrailEntryAddedInput
    ) -> AsyncGenerator[AuditTrailEntry, None]:
        identity = await info.context.identity()
        live = info.context.services.live
        subscriber = await live.subscribe(identity.account_id, identity.claims, input.filters())
        try:
            async for event in subscriber.events():
                yield AuditTrailEntry.from_event(event)
        finally:
            live.unsubscribe(subscriber)
