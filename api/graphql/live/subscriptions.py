"""``auditTrailEntryAdded``: entries pushed as they commit, under the search's filters."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncGenerator

import strawberry

from api.graphql.audit.types import AuditTrailEntry
from api.graphql.context import AppInfo
from api.graphql.live.frames import FrameWriter, outlet
from api.graphql.live.inputs import AuditTrailEntryAddedInput
from api.graphql.permissions import Readers
from api.models import AuditEvent
from api.observability import count_live_entry_sent

RECENT_ENTRIES = 4096


class RecentEntries:
    """Every subscriber of an event gets the same event object: its entry is built once, not once
    per subscriber (events never change, so a cached entry is never stale)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: OrderedDict[str, AuditTrailEntry] = OrderedDict()

    def entry(self, event: AuditEvent) -> AuditTrailEntry:
        found = self._entries.get(event.id)
        if found is None:
            found = self._entries[event.id] = AuditTrailEntry.from_event(event)
            if len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return found


_recent = RecentEntries(RECENT_ENTRIES)


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
        services = info.context.services
        target = outlet.get()
        frames = (
            # graphql-core's own info: the writer builds the subscription's executor from its operation.
            FrameWriter(target, info._raw_info, identity.account_id)
            if target is not None and services.settings.live_shared_frames
            else None
        )
        subscriber = await services.live.subscribe(identity.account_id, identity.claims, input.filters())
        try:
            async for event in subscriber.events():
                entry = _recent.entry(event)
                # Sent directly when it can be (the same bytes, shared); otherwise strawberry sends it.
                if frames is None or not await frames.send(entry):
                    count_live_entry_sent("plain")
                    yield entry
        finally:
            services.live.unsubscribe(subscriber)
