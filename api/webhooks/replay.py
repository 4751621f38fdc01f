"""Replays: stored events of a time range sent again to the account's webhook, as new deliveries.

A replay is a row (range, filters, keyset position); the worker's ``replay`` cron moves it on.
Each tick tops a replay's pending deliveries up to ``batch_size``, oldest events first, and wakes
the worker for them, so a replay of 100,000 never has more than one batch queued ahead of the live
deliveries that arrive meanwhile.  The events are selected by the search's own statement.

Every matching event is sent again, whether or not it was delivered before: a replay is for a
receiver that lost what it had (a collector that was down, a bucket emptied), and receivers
deduplicate on ``X-Audit-Event-Id``.  The deliveries carry the event's stored body and id.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from api.audit.facts import Audited, AuditFacts
from api.audit.query import Constraint, Filters, Predicate, filter_condition, search_field
from api.audit.record import Resource
from api.audit.resources import ResourceType
from api.audit.search import PageRequest, search_statement
from api.errors import BadInput, Conflict, NotFound
from api.models import AuditEvent, DeliveryStatus, ReplayStatus, Webhook, WebhookDelivery, WebhookReplay, new_id
from api.paging import Cursor, Direction, encode_cursor
from api.webhooks.config import get_live_webhook

CANCELLED_ERROR = "replay cancelled"


@dataclass(frozen=True)
class ReplayRequest:
    range_from: datetime
    range_to: datetime
    filters: Filters


@dataclass(frozen=True)
class ReplayProgress:
    replay: WebhookReplay
    delivered: int
    failed: int
    pending: int


def filters_to_json(filters: Filters) -> dict[str, Any]:
    """What a replay row keeps of its filters (no time constraints: the range is columns of its own)."""
    return {
        "predicates": [
            {
                "field": p.field,
                "exclude": p.exclude,
                "stringMatches": list(p.constraint.string_matches) if p.constraint.string_matches else None,
                "enumEquals": list(p.constraint.enum_equals) if p.constraint.enum_equals else None,
                "booleanEquals": list(p.constraint.boolean_equals) if p.constraint.boolean_equals else None,
            }
            for p in filters.predicates
        ]
    }


def filters_from_json(stored: dict[str, Any]) -> Filters:
    """The ``Filters`` a replay row keeps."""
    return Filters(
        predicates=tuple(
            Predicate(
                field=p["field"],
                exclude=bool(p["exclude"]),
                constraint=Constraint(
                    string_matches=p["stringMatches"], enum_equals=p["enumEquals"], boolean_equals=p["booleanEquals"]
                ),
            )
            for p in stored["predicates"]
        )
    )


def _in_range(replay_from: datetime, replay_to: datetime) -> Any:
    return col(AuditEvent.created_at).between(replay_from, replay_to)


async def start_replay(
    session: AsyncSession, account_id: str, request: ReplayRequest, *, max_events: int
) -> Audited[WebhookReplay]:
    """Create a replay of ``request`` to the account's enabled webhook: one at a time, at most ``max_events``."""
    if request.range_from > request.range_to:
        raise BadInput(f"from ({request.range_from.isoformat()}) must not be after to ({request.range_to.isoformat()})")
    for predicate in request.filters.predicates:
        if search_field(predicate.field).name == "createdAt":
            raise BadInput("give a replay's time range as from and to, not as a createdAt predicate")
    webhook = await get_live_webhook(session, account_id)
    if not webhook.enabled:
        raise Conflict("the webhook is disabled; enable it before replaying events to it")
    running = await session.scalar(
        select(col(WebhookReplay.id)).where(
            col(WebhookReplay.account_id) == account_id, col(WebhookReplay.status) == ReplayStatus.RUNNING.value
        )
    )
    if running is not None:
        raise Conflict(f"replay {running} is still running; wait for it or cancel it with auditTrailCancelReplay")
    condition = filter_condition(request.filters, now=datetime.now(UTC))
    total = await session.scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(col(AuditEvent.account_id) == account_id, condition, _in_range(request.range_from, request.range_to))
    )
    if int(total or 0) > max_events:
        raise BadInput(
            f"the range holds {total} matching events; a replay sends at most {max_events}"
            " (AUDITTRAIL_REPLAY_MAX_EVENTS): replay a shorter range at a time"
        )
    replay = WebhookReplay(
        account_id=account_id,
        webhook_id=webhook.id,
        range_from=request.range_from,
        range_to=request.range_to,
        filters=filters_to_json(request.filters),
        total=int(total or 0),
    )
    session.add(replay)
    try:
        await session.flush()
    except IntegrityError:
        # The one-running-replay index: a twin started concurrently and committed first.
        raise Conflict("another replay of this account started just now; wait for it or cancel it") from None
    facts = AuditFacts(
        affected_resource=Resource(ResourceType.ACCOUNT, account_id),
        related_resource=Resource(ResourceType.AUDIT_TRAIL_WEBHOOK, webhook.id),
    )
    return Audited(replay, facts)


async def get_replay(session: AsyncSession, account_id: str, replay_id: str) -> WebhookReplay:
    """The account's replay ``replay_id``, or NOT_FOUND (another account's too)."""
    replay = await session.scalar(
        select(WebhookReplay)
        .where(col(WebhookReplay.id) == replay_id[:26], col(WebhookReplay.account_id) == account_id)
        .with_for_update()
    )
    if replay is None:
        raise NotFound(f"no replay {replay_id[:26]!r} in this account")
    return replay


async def cancel_replay(session: AsyncSession, account_id: str, replay_id: str) -> Audited[WebhookReplay]:
    """Stop a running replay: nothing more is enqueued, and its pending deliveries fail unsent."""
    replay = await get_replay(session, account_id, replay_id)
    if replay.status != ReplayStatus.RUNNING.value:
        raise Conflict(f"replay {replay.id} is {replay.status}; only a RUNNING replay can be cancelled")
    replay.status = ReplayStatus.CANCELLED.value
    replay.finished_at = replay.updated_at = datetime.now(UTC)
    # An attempt in flight finds its row no longer PENDING, and its result is dropped (attempts.py).
    await session.execute(
        update(WebhookDelivery)
        .where(col(WebhookDelivery.replay_id) == replay.id, col(WebhookDelivery.status) == DeliveryStatus.PENDING.value)
        .values(status=DeliveryStatus.FAILED.value, last_error=CANCELLED_ERROR, next_attempt_at=None)
    )
    facts = AuditFacts(
        affected_resource=Resource(ResourceType.ACCOUNT, account_id),
        related_resource=Resource(ResourceType.AUDIT_TRAIL_REPLAY, replay.id),
    )
    return Audited(replay, facts)


async def list_replays(
    session: AsyncSession, account_id: str, *, limit: int = 50, replay_id: str | None = None
) -> list[ReplayProgress]:
    """The account's latest replays (or only ``replay_id``), newest first, with their deliveries
    counted by status."""
    statement = select(WebhookReplay).where(col(WebhookReplay.account_id) == account_id)
    if replay_id is not None:
        statement = statement.where(col(WebhookReplay.id) == replay_id)
    ordered = statement.order_by(col(WebhookReplay.created_at).desc(), col(WebhookReplay.id).desc()).limit(limit)
    replays = list((await session.scalars(ordered)).all())
    counts = await _delivery_counts(session, [replay.id for replay in replays])
    return [
        ReplayProgress(
            replay=replay,
            delivered=counts.get((replay.id, DeliveryStatus.DELIVERED.value), 0),
            failed=counts.get((replay.id, DeliveryStatus.FAILED.value), 0),
            pending=counts.get((replay.id, DeliveryStatus.PENDING.value), 0),
        )
        for replay in replays
    ]


async def _delivery_counts(session: AsyncSession, replay_ids: Sequence[str]) -> dict[tuple[str, str], int]:
    if not replay_ids:
        return {}
    replay_id, status = col(WebhookDelivery.replay_id), col(WebhookDelivery.status)
    rows = await session.execute(
        select(replay_id, status, func.count()).where(replay_id.in_(replay_ids)).group_by(replay_id, status)
    )
    return {(str(row[0]), str(row[1])): int(row[2]) for row in rows}


async def advance_replays(session: AsyncSession, *, batch_size: int) -> list[str]:
    """Move every running replay one step; returns the deliveries to wake once this commits.

    ``SKIP LOCKED``: two workers' crons never enqueue the same replay's batch twice.
    """
    replays = (
        await session.scalars(
            select(WebhookReplay)
            .where(col(WebhookReplay.status) == ReplayStatus.RUNNING.value)
            .with_for_update(skip_locked=True)
        )
    ).all()
    delivery_ids: list[str] = []
    for replay in replays:
        delivery_ids += await _advance(session, replay, batch_size)
    return delivery_ids


async def _advance(session: AsyncSession, replay: WebhookReplay, batch_size: int) -> list[str]:
    now = datetime.now(UTC)
    webhook = await session.get(Webhook, replay.webhook_id)
    if webhook is None or webhook.deleted_at is not None:
        # Deleting the webhook failed its pending deliveries; there is nowhere to send the rest.
        replay.status, replay.finished_at, replay.updated_at = ReplayStatus.CANCELLED.value, now, now
        return []
    pending = int(
        await session.scalar(
            select(func.count()).where(
                col(WebhookDelivery.replay_id) == replay.id,
                col(WebhookDelivery.status) == DeliveryStatus.PENDING.value,
            )
        )
        or 0
    )
    room = batch_size - pending
    if room <= 0:
        return []
    after = (
        encode_cursor(Cursor(replay.after_created_at, replay.after_id, Direction.ASC))
        if replay.after_created_at is not None and replay.after_id is not None
        else None
    )
    statement = (
        search_statement(
            replay.account_id,
            filters_from_json(replay.filters),
            PageRequest(first=room, after=after, direction=Direction.ASC),
            now=now,
        )
        .where(_in_range(replay.range_from, replay.range_to))
        .with_only_columns(
            col(AuditEvent.id), col(AuditEvent.created_at), col(AuditEvent.action), col(AuditEvent.run_state_change)
        )
        .limit(room)
    )
    events = (await session.execute(statement)).all()
    if not events:
        if pending == 0:
            replay.status, replay.finished_at, replay.updated_at = ReplayStatus.FINISHED.value, now, now
        return []
    # Run state changes go only to a webhook that includes runs, as when they were recorded.
    rows = [
        {
            "id": new_id(),
            "account_id": replay.account_id,
            "webhook_id": webhook.id,
            "event_id": event.id,
            "event_created_at": event.created_at,
            "action": event.action,
            "next_attempt_at": now,
            "replay_id": replay.id,
        }
        for event in events
        if webhook.include_runs or not event.run_state_change
    ]
    if rows:
        await session.execute(insert(WebhookDelivery), rows)
    last = events[-1]
    replay.after_created_at, replay.after_id = last.created_at, last.id
    replay.enqueued += len(rows)
    replay.updated_at = now
    return [str(row["id"]) for row in rows]


__all__ = [
    "ReplayProgress",
    "ReplayRequest",
    "advance_replays",
    "cancel_replay",
    "list_replays",
    "start_replay",
]
