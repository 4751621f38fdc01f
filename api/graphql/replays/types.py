"""The replay as GraphQL shows it: its range, state and progress."""

from __future__ import annotations

from datetime import datetime

import strawberry

from api.graphql.scalars import unix_seconds
from api.models import ReplayStatus
from api.webhooks import ReplayProgress

AuditTrailReplayStatus = strawberry.enum(ReplayStatus, name="AuditTrailReplayStatus")


@strawberry.type(description="A time range of stored events sent to the webhook again, in batches.")
class AuditTrailReplay:
    id: strawberry.ID
    status: AuditTrailReplayStatus  # type: ignore[valid-type]  # strawberry enum wrapper
    range_from: datetime = strawberry.field(name="from")
    range_to: datetime = strawberry.field(name="to")
    total: int = strawberry.field(description="Matching events when the replay started.")
    enqueued: int = strawberry.field(description="Deliveries created so far.")
    delivered: int
    failed: int = strawberry.field(description="Deliveries that failed (a cancelled replay's unsent ones too).")
    pending: int
    created_at: int = strawberry.field(description="Unix seconds.")
    finished_at: int | None = strawberry.field(description="Unix seconds; null while running.")

    @classmethod
    def from_progress(cls, progress: ReplayProgress) -> AuditTrailReplay:
        replay = progress.replay
        return cls(
            id=strawberry.ID(replay.id),
            status=ReplayStatus(replay.status),
            range_from=replay.range_from,
            range_to=replay.range_to,
            total=replay.total,
            enqueued=replay.enqueued,
            delivered=progress.delivered,
            failed=progress.failed,
            pending=progress.pending,
            created_at=unix_seconds(replay.created_at) or 0,
            finished_at=unix_seconds(replay.finished_at),
        )


@strawberry.type(description="What auditTrailRedeliverFailed queued.")
class AuditTrailRedeliverFailedResult:
    queued: int = strawberry.field(description="Failed deliveries queued for one more attempt, oldest first.")
    remaining: int = strawberry.field(
        description="Failed deliveries of the range left for another call (one queues at most"
        " AUDITTRAIL_REDELIVER_FAILED_MAX)."
    )
