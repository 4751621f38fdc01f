"""Mutations of tamper evidence."""

from __future__ import annotations

from functools import partial

import strawberry

from api.graphql.audited import AuditedMutation
from api.graphql.context import AppInfo
from api.graphql.permissions import ADMIN_ONLY
from api.integrity.delivery_setting import set_digest_events
from api.models import EventType

SET_DIGEST_EVENTS = AuditedMutation("account.set_digest_events", EventType.UPDATE, roles=ADMIN_ONLY)


@strawberry.type
class IntegrityMutation:
    @strawberry.mutation(
        description="Whether each digest is also delivered as an audit_trail.digest event (on by default);"
        " digests are signed and stored either way. Returns the new setting. ADMIN only."
    )
    async def audit_trail_set_digest_events(self, info: AppInfo, enabled: bool) -> bool:
        changed = await SET_DIGEST_EVENTS.run(info, {"enabled": enabled}, partial(set_digest_events, enabled=enabled))
        return changed.result
