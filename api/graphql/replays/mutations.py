"""Starting and cancelling a replay, each audited; the worker's ``replay`` cron does the sending."""

from __future__ import annotations

from functools import partial

import strawberry

from api import webhooks
from api.graphql.audited import AuditedMutation
from api.graphql.context import AppInfo
from api.graphql.permissions import ADMIN_ONLY
from api.graphql.replays.inputs import AuditTrailRedeliverFailedInput, AuditTrailReplayInput
from api.graphql.replays.types import AuditTrailRedeliverFailedResult, AuditTrailReplay
from api.models import EventType

REPLAY = AuditedMutation("audit_trail_webhook.replay", EventType.CREATE, roles=ADMIN_ONLY)
CANCEL_REPLAY = AuditedMutation("audit_trail_webhook.cancel_replay", EventType.UPDATE, roles=ADMIN_ONLY)
REDELIVER_FAILED = AuditedMutation("audit_trail_webhook.redeliver_failed", EventType.UPDATE, roles=ADMIN_ONLY)


@strawberry.type
class ReplaysMutation:
    @strawberry.mutation(
        description="Send the stored events of a time range to the webhook again, oldest first, as new"
        " deliveries with their original body and event id; one replay at a time. ADMIN only."
    )
    async def audit_trail_replay(self, info: AppInfo, input: AuditTrailReplayInput) -> AuditTrailReplay:
        start = partial(
            webhooks.start_replay,
            request=input.to_request(),
            max_events=info.context.services.settings.replay_max_events,
        )
        started = await REPLAY.run(info, {"input": input}, start)
        return await _replay(info, started.result.account_id, started.result.id)

    @strawberry.mutation(description="Stop a running replay; its unsent deliveries fail. ADMIN only.")
    async def audit_trail_cancel_replay(self, info: AppInfo, id: strawberry.ID) -> AuditTrailReplay:
        cancelled = await CANCEL_REPLAY.run(info, {"id": id}, partial(webhooks.cancel_replay, replay_id=str(id)))
        return await _replay(info, cancelled.result.account_id, cancelled.result.id)

    @strawberry.mutation(
        description="Queue the webhook's failed deliveries (the delivery log's Failed view) for one more"
        " attempt each, oldest first, as the worker sends any delivery; returns how many. ADMIN only."
    )
    async def audit_trail_redeliver_failed(
        self, info: AppInfo, input: AuditTrailRedeliverFailedInput | None = None
    ) -> AuditTrailRedeliverFailedResult:
        given = input or AuditTrailRedeliverFailedInput()
        requeue = partial(
            webhooks.requeue_failed_deliveries,
            in_range=given.to_range(),
            max_deliveries=info.context.services.settings.redeliver_failed_max,
        )
        requeued = (await REDELIVER_FAILED.run(info, {"input": given}, requeue)).result
        # Committed: only now may the worker look for the rows.
        await webhooks.enqueue_deliveries(info.context.services.queue, requeued.delivery_ids)
        return AuditTrailRedeliverFailedResult(queued=len(requeued.delivery_ids), remaining=requeued.remaining)


async def _replay(info: AppInfo, account_id: str, replay_id: str) -> AuditTrailReplay:
    async with info.context.reading() as session:
        (progress,) = await webhooks.list_replays(session, account_id, replay_id=replay_id)
    return AuditTrailReplay.from_progress(progress)
