"""Write audit events and the webhook deliveries they owe, in the caller's transaction.

One statement per batch: the events go in through ``unnest`` and the delivery rows are derived
from them in the same statement, so ingestion of 1,000 events is one round trip, and no event
can commit without the delivery its webhook is owed.  The same statement claims the client ids
of ingested events (``audit_event_external_ids``); an event whose id is already claimed is not
written, and the batch says which ids those were.  A change that is itself one statement can lead
the same statement (``record_events_with``), so the change and its event are one round trip.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Row, TextClause, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from api.audit.actors import actor_source
from api.audit.hashing import event_hash
from api.audit.payload import build_body
from api.models import EventType, new_id
from api.ulids import ULIDS


@dataclass(frozen=True)
class Resource:
    resource_type: str
    resource_id: str | None = None


@dataclass(frozen=True)
class RunRef:
    run_id: str
    stack_id: str


# IncomingEvent, EventDraft and NewEvent are made for every event of a batch and never changed
# afterwards, yet not ``frozen``: a frozen dataclass's ``__init__`` sets each field through
# ``object.__setattr__``, which made building these three about 40% of validating and building a
# 500-event batch (5.5 of 13 ms of CPU).
@dataclass(slots=True)
class EventDraft:
    """An event as the caller knows it, before it has an id."""

    action: str
    actor: str
    timestamp_ms: int
    event_type: EventType
    run_state_change: bool = False
    context: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    remote_ip: str | None = None
    affected_resource: Resource | None = None
    related_resource: Resource | None = None
    run: RunRef | None = None
    recorded_at_ms: int | None = None
    """When the service recorded it; None for the service's own events, recorded as they happen (at their timestamp)."""
    external_id: str | None = None
    """The client's id of an ingested event, unique per account: written once, whoever retries it."""


@dataclass(slots=True)  # not frozen: see EventDraft
class NewEvent:
    """An event as written: the columns of ``audit_events``.

    A plain dataclass rather than the ORM model: building a thousand ORM instances per ingestion
    batch cost more than the INSERT itself, and the rows are written with one Core statement.
    """

    id: str
    created_at: datetime
    account_id: str
    action: str
    actor: str
    actor_source: str
    event_type: str
    run_state_change: bool
    affected_resource_type: str | None
    affected_resource_id: str | None
    related_resource_type: str | None
    related_resource_id: str | None
    run_id: str | None
    run_stack_id: str | None
    context: dict[str, Any]
    data: dict[str, Any]
    remote_ip: str | None
    recorded_by: str | None
    recorded_at: datetime
    body: str


@dataclass(frozen=True)
class RecordedBatch:
    events: list[NewEvent]
    """The events written, in the order of their drafts (a draft whose external id was known is not)."""
    delivery_ids: list[str]
    """Deliveries written with the events; enqueue them once the transaction has committed."""

    delivery_id_by_event: dict[str, str]
    known_external_ids: frozenset[str] = frozenset()
    """External ids already claimed by an earlier (or concurrent, since committed) batch: not written again."""


def event_id_at(timestamp_ms: int) -> str:
    """Event ids carry their own time, so an id alone finds its partition."""
    return ULIDS.at(timestamp_ms)


def now_ms() -> int:
    """Milliseconds since the epoch, the unit of a payload's ``timestamp``."""
    return int(datetime.now(UTC).timestamp() * 1000)


@functools.lru_cache(maxsize=4096)
def instant(epoch_ms: int) -> datetime:
    """The ``timestamptz`` of milliseconds since the epoch: how times in bodies are stored in columns.

    Cached (datetimes are immutable): the events of a batch mostly share their time and all share
    their recording time, so a batch converts a few times instead of twice per event."""
    return datetime.fromtimestamp(epoch_ms / 1000, UTC)


def build_event(draft: EventDraft, *, account_id: str, account_name: str, recorded_by: str | None) -> NewEvent:
    """The row of ``draft``: its id from its time, and its webhook body built once, here, never again."""
    body = build_body(
        account_name=account_name,
        action=draft.action,
        actor=draft.actor,
        context=draft.context,
        data=draft.data,
        remote_ip=draft.remote_ip,
        timestamp_ms=draft.timestamp_ms,
    )
    affected, related = draft.affected_resource, draft.related_resource
    return NewEvent(
        id=event_id_at(draft.timestamp_ms),
        created_at=instant(draft.timestamp_ms),
        account_id=account_id,
        action=draft.action,
        actor=draft.actor,
        actor_source=actor_source(draft.actor),
        event_type=draft.event_type.value,
        run_state_change=draft.run_state_change,
        affected_resource_type=affected.resource_type if affected else None,
        affected_resource_id=affected.resource_id if affected else None,
        related_resource_type=related.resource_type if related else None,
        related_resource_id=related.resource_id if related else None,
        run_id=draft.run.run_id if draft.run else None,
        run_stack_id=draft.run.stack_id if draft.run else None,
        context=draft.context,
        data=draft.data,
        remote_ip=draft.remote_ip,
        recorded_by=recorded_by,
        # The service's clock when recording, whatever time the event claims (digests cover events by
        # it); Python's, not the column's default now(): an ingested body carries the same value
        # (``context.recordedAt``), and it is written in the very statement that stores the row.
        recorded_at=instant(now_ms() if draft.recorded_at_ms is None else draft.recorded_at_ms),
        body=body,
    )


_EVENTS_AND_DELIVERIES = """
    incoming AS (
        SELECT * FROM unnest(
            CAST(:ids AS varchar[]), CAST(:created_ats AS timestamptz[]), CAST(:actions AS text[]),
            CAST(:actors AS text[]), CAST(:actor_sources AS text[]), CAST(:event_types AS text[]),
            CAST(:run_flags AS boolean[]), CAST(:affected_types AS text[]), CAST(:affected_ids AS text[]),
            CAST(:related_types AS text[]), CAST(:related_ids AS text[]),
            CAST(:run_ids AS text[]), CAST(:run_stack_ids AS text[]),
            CAST(:contexts AS text[]), CAST(:datas AS text[]), CAST(:remote_ips AS text[]),
            CAST(:recorded_ats AS timestamptz[]), CAST(:bodies AS text[]), CAST(:delivery_ids AS varchar[]),
            CAST(:external_ids AS text[]), CAST(:event_hashes AS bytea[])
        ) AS t(id, created_at, action, actor, actor_source, event_type, run_state_change, affected_type,
               affected_id, related_type, related_id, run_id, run_stack_id, context, data, remote_ip, recorded_at,
               body, delivery_id, external_id, event_hash)
    ),
    claimed AS (
        -- A concurrent batch holding the same id makes this wait for its commit, then do nothing:
        -- one of them writes the event.  Sorted, so two batches claim shared ids in one order and
        -- cannot deadlock.
        INSERT INTO audit_event_external_ids (account_id, external_id, event_id, event_created_at)
        SELECT :account_id, external_id, id, created_at FROM incoming
        WHERE external_id IS NOT NULL
        ORDER BY external_id
        ON CONFLICT DO NOTHING
        RETURNING external_id, event_id
    ),
    inserted AS (
        INSERT INTO audit_events (
            id, created_at, account_id, action, actor, actor_source, event_type, run_state_change,
            affected_resource_type, affected_resource_id, related_resource_type, related_resource_id,
            run_id, run_stack_id, context, data, remote_ip, recorded_by, recorded_at, body, event_hash)
        SELECT id, created_at, :account_id, action, actor, actor_source, event_type, run_state_change,
               affected_type, affected_id, related_type, related_id,
               run_id, run_stack_id, context::jsonb, data::jsonb, remote_ip, :recorded_by, recorded_at, body,
               event_hash
        FROM incoming
        WHERE external_id IS NULL OR id IN (SELECT event_id FROM claimed)
        RETURNING id
    ),
    target AS (
        -- The account's live enabled webhook, or the one named explicitly (the final payload of
        -- a disable or delete goes to the webhook as it was, whatever its state now).
        SELECT id, include_runs OR id = :forced_webhook_id AS include_runs
        FROM webhooks
        WHERE account_id = :account_id
          AND (id = :forced_webhook_id OR (enabled AND deleted_at IS NULL))
        ORDER BY id = :forced_webhook_id DESC
        LIMIT 1
    ),
    deliveries AS (
        INSERT INTO webhook_deliveries (id, account_id, webhook_id, event_id, event_created_at, action, next_attempt_at)
        SELECT incoming.delivery_id, :account_id, target.id, incoming.id, incoming.created_at, incoming.action,
               now() + make_interval(secs => :due_in_seconds)
        FROM incoming
        JOIN inserted ON inserted.id = incoming.id
        CROSS JOIN target
        WHERE NOT incoming.run_state_change OR target.include_runs
        RETURNING id, event_id
    )
    SELECT id, event_id, NULL AS external_id FROM deliveries
    UNION ALL
    SELECT NULL, event_id, external_id FROM claimed
"""
"""The events' and deliveries' common table expressions and the statement's answer, after ``WITH``."""

_INSERT_EVENTS_AND_DELIVERIES = text("WITH " + _EVENTS_AND_DELIVERIES)


@functools.lru_cache(maxsize=32)
def _change_and_events(change_sql: str) -> TextClause:
    """The events' statement led by one change of its own (``WITH change AS (...)``), built once per
    change: PostgreSQL runs a data-modifying ``WITH`` to completion whether or not anything reads it,
    and the whole statement is one transaction: the change and its event commit together or not at all."""
    return text(f"WITH change AS ({change_sql}),{_EVENTS_AND_DELIVERIES}")


def _json_text(value: dict[str, Any]) -> str:
    return orjson.dumps(value).decode()


@dataclass(frozen=True)
class Recording:
    """Whose events a batch records and where its deliveries go: the same for every event of it."""

    account_id: str
    account_name: str
    recorded_by: str | None
    forced_webhook_id: str | None = None
    deliveries_due_in_seconds: float = 0.0


@dataclass(frozen=True)
class ChangeStatement:
    """A change written by its event's own statement (``record_events_with``): one round trip for both.

    ``sql`` is one data-modifying statement with ``:name`` parameters; its names must not be the
    events' (prefix them with the resource: ``key_id``)."""

    sql: str
    parameters: Mapping[str, Any]


async def record_events(
    session: AsyncSession,
    drafts: list[EventDraft],
    *,
    account_id: str,
    account_name: str,
    recorded_by: str | None,
    forced_webhook_id: str | None = None,
    deliveries_due_in_seconds: float = 0.0,
) -> RecordedBatch:
    """Insert ``drafts`` and their deliveries in one statement inside the caller's transaction.

    A draft whose external id is already claimed is left out: ``known_external_ids`` names those.
    """
    recording = Recording(account_id, account_name, recorded_by, forced_webhook_id, deliveries_due_in_seconds)
    return await record_events_as(session, drafts, recording)


async def record_events_as(session: AsyncSession, drafts: list[EventDraft], recording: Recording) -> RecordedBatch:
    """``record_events`` for a ``Recording`` already made (an audited change's, ``api/audit/changes.py``)."""
    await session.flush()  # the caller's own writes (a webhook just saved) must be visible to the statement
    events = _built(drafts, recording)
    result = await session.execute(_INSERT_EVENTS_AND_DELIVERIES, _parameters(events, drafts, recording))
    return _recorded_batch(result, events, drafts)


async def record_events_with(
    connection: AsyncConnection, change: ChangeStatement, drafts: list[EventDraft], recording: Recording
) -> RecordedBatch:
    """Write ``change`` and ``drafts`` with their deliveries in one statement on ``connection``.

    On a connection in autocommit (``Database.statement``) that statement is the whole transaction:
    one round trip where a session takes BEGIN, the change, the events and COMMIT.  It goes through
    SQLAlchemy's execution all the same, so a lost connection is handled (and answered) as anywhere.
    """
    events = _built(drafts, recording)
    parameters = _parameters(events, drafts, recording)
    if not parameters.keys().isdisjoint(change.parameters):
        raise ValueError(f"a change's parameters must not be named as the events': {sorted(change.parameters)}")
    result = await connection.execute(_change_and_events(change.sql), {**parameters, **change.parameters})
    return _recorded_batch(result, events, drafts)


def _built(drafts: list[EventDraft], recording: Recording) -> list[NewEvent]:
    return [
        build_event(
            draft,
            account_id=recording.account_id,
            account_name=recording.account_name,
            recorded_by=recording.recorded_by,
        )
        for draft in drafts
    ]


def _parameters(events: list[NewEvent], drafts: list[EventDraft], recording: Recording) -> dict[str, Any]:
    """The statement's parameters: one array per column, one element per event."""
    return {
        "account_id": recording.account_id,
        "recorded_by": recording.recorded_by,
        "forced_webhook_id": recording.forced_webhook_id or "",
        "due_in_seconds": recording.deliveries_due_in_seconds,
        "ids": [e.id for e in events],
        "created_ats": [e.created_at for e in events],
        "actions": [e.action for e in events],
        "actors": [e.actor for e in events],
        "actor_sources": [e.actor_source for e in events],
        "event_types": [e.event_type for e in events],
        "run_flags": [e.run_state_change for e in events],
        "affected_types": [e.affected_resource_type for e in events],
        "affected_ids": [e.affected_resource_id for e in events],
        "related_types": [e.related_resource_type for e in events],
        "related_ids": [e.related_resource_id for e in events],
        "run_ids": [e.run_id for e in events],
        "run_stack_ids": [e.run_stack_id for e in events],
        "contexts": [_json_text(e.context) for e in events],
        "datas": [_json_text(e.data) for e in events],
        "remote_ips": [e.remote_ip for e in events],
        "recorded_ats": [e.recorded_at for e in events],
        "bodies": [e.body for e in events],
        "delivery_ids": [new_id() for _ in events],
        # The integrity hash of each body exactly as stored (api/audit/hashing.py).
        "event_hashes": [event_hash(e.id, e.body) for e in events],
        "external_ids": [draft.external_id for draft in drafts],
    }


def _recorded_batch(rows: Iterable[Row[Any]], events: list[NewEvent], drafts: list[EventDraft]) -> RecordedBatch:
    """What the statement's answer says was written: the deliveries, and the external ids already claimed."""
    delivery_id_by_event: dict[str, str] = {}
    claimed: set[str] = set()
    for row in rows:
        if row.external_id is None:
            delivery_id_by_event[str(row.event_id)] = str(row.id)
        else:
            claimed.add(str(row.external_id))
    known = frozenset(d.external_id for d in drafts if d.external_id is not None and d.external_id not in claimed)
    return RecordedBatch(
        events=[e for e, d in zip(events, drafts, strict=True) if d.external_id not in known] if known else events,
        delivery_ids=list(delivery_id_by_event.values()),
        delivery_id_by_event=delivery_id_by_event,
        known_external_ids=known,
    )
