"""Events recorded by other services: validated as a whole batch, then written in one statement.

The batch is all-or-nothing: the first invalid item fails the call with its index in the
message, and nothing is written.  Events with an ``externalId`` stored before (a retried batch)
are not written again: the call answers with the events stored then, in the batch's order.
"""

from __future__ import annotations

import functools
import ipaddress
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from api.audit.actors import RECORDED_BY, key_actor, split_actor
from api.audit.external_ids import EXTERNAL_ID, check_distinct, check_external_id, stored_events
from api.audit.record import EventDraft, NewEvent, Resource, RunRef, record_events
from api.errors import BadInput, Conflict, Forbidden
from api.models import AuditEvent, EventType

MAX_EVENTS_PER_CALL = 1000
ACTION_PATTERN = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)+$")
RESOURCE_TYPE_PATTERN = re.compile(r"^[A-Z][A-Z0-9_]*$")
SERVICE_NAMESPACES = ("api_key", "account", "audit_trail", "audit_trail_webhook", "saved_filter")
"""Actions the service records itself: an ingested event in one of these could pass for the service's own."""
RECORDED_AT = "recordedAt"
"""The ``context`` key holding when the service recorded an ingested event (ms), beside its claimed ``timestamp``."""
SERVICE_CONTEXT_KEYS = frozenset(
    {"mutation", "requestId", "userAgent", "command", RECORDED_BY, RECORDED_AT, EXTERNAL_ID}
)
"""``context`` keys the service writes: on an ingested event they could forge a mutation's provenance."""
MAX_ACTION_LENGTH = 128
MAX_ACTOR_LENGTH = 256
MAX_RESOURCE_FIELD_LENGTH = 256
MAX_CONTEXT_BYTES = 8 * 1024
MAX_DATA_BYTES = 64 * 1024
MAX_FUTURE_SKEW_MS = 5 * 60 * 1000
DAY_MS = 86_400_000
MAX_CACHED_IP_LENGTH = 64
"""Longer addresses (an IPv6 with a long zone id, or no address at all) are parsed, not cached."""


@dataclass(slots=True)  # not frozen: see EventDraft in api/audit/record.py
class IncomingEvent:
    """One event as a service sent it, not yet checked."""

    action: str
    actor: str
    event_type: EventType
    run_state_change: bool = False
    affected_resource: Resource | None = None
    related_resource: Resource | None = None
    run: RunRef | None = None
    context: Any = None
    data: Any = None
    remote_ip: str | None = None
    timestamp_ms: float | None = None
    external_id: str | None = None


@dataclass(frozen=True)
class IngestLimits:
    now_ms: int
    """The service's clock when the batch arrived: each event's default timestamp and its recording time."""
    retention_days: int


@dataclass(frozen=True)
class IngestedBatch:
    entries: list[NewEvent | AuditEvent]
    """One per event sent, in order: as written now, or as stored before under the same external id."""
    written: int
    """How many of them this batch wrote (a retried batch's known events are not written again)."""
    delivery_ids: list[str]
    """Deliveries of the events written now; enqueue them once the transaction has committed."""


def validate_event(event: IncomingEvent, limits: IngestLimits, *, recorder: str, where: str = "event") -> EventDraft:
    """``event`` as a draft ready to record, its ``context`` saying who recorded it when (``recordedBy``,
    ``recordedAt``) and under which ``externalId``; or BAD_USER_INPUT (FORBIDDEN for what only the
    service may write) naming ``where`` and what is allowed."""
    namespace = event.action.split(".", 1)[0]
    if namespace in SERVICE_NAMESPACES:
        reserved = ", ".join(f"{name}.*" for name in SERVICE_NAMESPACES)
        raise Forbidden(
            f"{where}.action is in the service's own namespace {namespace}.*: only the service records those"
            f" ({reserved}); record your events under your own resource names"
        )
    if len(event.action) > MAX_ACTION_LENGTH or not ACTION_PATTERN.match(event.action):
        raise BadInput(
            f"{where}.action must look like <resource>.<verb> (lowercase letters, digits, '_', dot-separated,"
            f" at most {MAX_ACTION_LENGTH} characters), got {event.action[:MAX_ACTION_LENGTH]!r}"
        )
    source, identity = split_actor(event.actor)
    if not source or not identity or len(event.actor) > MAX_ACTOR_LENGTH:
        raise BadInput(
            f"{where}.actor must be source::identity (both parts non-empty, at most {MAX_ACTOR_LENGTH}"
            f" characters), got {event.actor[:MAX_ACTOR_LENGTH]!r}"
        )
    if event.run_state_change and event.run is None:
        raise BadInput(f"{where}.run {{id stackId}} is required for run state change events")
    if not event.run_state_change and event.run is not None:
        raise BadInput(f"{where}.run is only allowed on run state change events (runStateChange: true)")
    for name, resource in (("affectedResource", event.affected_resource), ("relatedResource", event.related_resource)):
        _check_resource(resource, f"{where}.{name}")
    if event.run is not None and not (
        0 < len(event.run.run_id) <= MAX_RESOURCE_FIELD_LENGTH
        and 0 < len(event.run.stack_id) <= MAX_RESOURCE_FIELD_LENGTH
    ):
        raise BadInput(f"{where}.run id and stackId must be 1 to {MAX_RESOURCE_FIELD_LENGTH} characters")
    context = _check_json_object(event.context, f"{where}.context", MAX_CONTEXT_BYTES)
    if not SERVICE_CONTEXT_KEYS.isdisjoint(context):
        forged = sorted(SERVICE_CONTEXT_KEYS & context.keys())
        raise Forbidden(
            f"{where}.context may not set {', '.join(forged)}: the service writes those keys itself"
            f" ({', '.join(sorted(SERVICE_CONTEXT_KEYS))}); give an event's id as its externalId field"
        )
    external_id = check_external_id(event.external_id, where)
    provenance: dict[str, Any] = {RECORDED_BY: recorder, RECORDED_AT: limits.now_ms}
    if external_id is not None:
        provenance[EXTERNAL_ID] = external_id
    return EventDraft(
        action=event.action,
        actor=event.actor,
        timestamp_ms=_check_timestamp(event.timestamp_ms, limits, where),
        event_type=event.event_type,
        run_state_change=event.run_state_change,
        context={**context, **provenance},
        data=_check_json_object(event.data, f"{where}.data", MAX_DATA_BYTES),
        remote_ip=_check_ip(event.remote_ip, where),
        affected_resource=event.affected_resource,
        related_resource=event.related_resource,
        run=event.run,
        recorded_at_ms=limits.now_ms,
        external_id=external_id,
    )


def validate_events(events: Sequence[IncomingEvent], limits: IngestLimits, *, recorder: str) -> list[EventDraft]:
    """All events as drafts, or BAD_USER_INPUT for the first one that is not valid."""
    if not 1 <= len(events) <= MAX_EVENTS_PER_CALL:
        raise BadInput(f"events must hold 1 to {MAX_EVENTS_PER_CALL} events per call, got {len(events)}")
    drafts = [
        validate_event(event, limits, recorder=recorder, where=f"events[{index}]") for index, event in enumerate(events)
    ]
    check_distinct([draft.external_id for draft in drafts])
    return drafts


async def ingest_events(
    session: AsyncSession,
    events: Sequence[IncomingEvent],
    limits: IngestLimits,
    *,
    account_id: str,
    account_name: str,
    recorded_by: str,
) -> IngestedBatch:
    """Validate the whole batch, then record it (and its deliveries) in one statement.

    Every event says who recorded it, ``context.recordedBy``, in the very body its receivers get:
    a key recording on behalf of others cannot pass its events off as the service's own.  An event
    whose external id the account has stored before is answered with the stored event, whatever it
    holds now (a retry's default timestamp differs from the first try's): the first write wins.
    """
    drafts = validate_events(events, limits, recorder=key_actor(recorded_by))
    batch = await record_events(
        session, drafts, account_id=account_id, account_name=account_name, recorded_by=recorded_by
    )
    if not batch.known_external_ids:
        return IngestedBatch(entries=list(batch.events), written=len(batch.events), delivery_ids=batch.delivery_ids)
    # A statement of its own: its snapshot sees what a concurrent batch committed while the
    # claim waited for it.
    stored = await stored_events(session, account_id, batch.known_external_ids)
    missing = sorted(batch.known_external_ids - stored.keys())
    if missing:
        # Retention removed them between the claim and this read; nothing of this batch is kept.
        raise Conflict(
            f"{len(missing)} events stored under these externalIds (the first: {missing[0]!r}) expired while this"
            " batch was recorded; nothing was stored, retry the batch"
        )
    written = iter(batch.events)
    entries: list[NewEvent | AuditEvent] = []
    for draft in drafts:
        known = draft.external_id if draft.external_id in batch.known_external_ids else None
        entries.append(stored[known] if known is not None else next(written))
    return IngestedBatch(entries=entries, written=len(batch.events), delivery_ids=batch.delivery_ids)


def _check_resource(resource: Resource | None, where: str) -> None:
    if resource is None:
        return
    if len(resource.resource_type) > MAX_RESOURCE_FIELD_LENGTH or not RESOURCE_TYPE_PATTERN.match(
        resource.resource_type
    ):
        raise BadInput(
            f"{where}.resourceType must be UPPER_SNAKE like ACCOUNT, API_KEY, STACK or RUN (capital letters,"
            f" digits and '_', starting with a letter, at most {MAX_RESOURCE_FIELD_LENGTH} characters),"
            f" got {resource.resource_type[:MAX_RESOURCE_FIELD_LENGTH]!r}"
        )
    if resource.resource_id is not None and len(resource.resource_id) > MAX_RESOURCE_FIELD_LENGTH:
        raise BadInput(f"{where}.resourceId is limited to {MAX_RESOURCE_FIELD_LENGTH} characters")


def _check_timestamp(timestamp_ms: float | None, limits: IngestLimits, where: str) -> int:
    if timestamp_ms is None:
        return limits.now_ms
    if not math.isfinite(timestamp_ms) or timestamp_ms < 0:
        raise BadInput(f"{where}.timestamp must be milliseconds since the epoch, got {timestamp_ms}")
    moment = round(timestamp_ms)
    if moment > limits.now_ms + MAX_FUTURE_SKEW_MS:
        raise BadInput(
            f"{where}.timestamp {moment} is in the future; at most {MAX_FUTURE_SKEW_MS // 1000} s of clock skew"
            f" is allowed (now is {limits.now_ms})"
        )
    oldest = limits.now_ms - limits.retention_days * DAY_MS
    if moment < oldest:
        raise BadInput(
            f"{where}.timestamp {moment} is older than this account's retention of {limits.retention_days}"
            f" days (oldest accepted: {oldest})"
        )
    return moment


def _check_json_object(value: Any, where: str, max_bytes: int) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, str):
        # Spacelift's API carries data as a JSON string; accept that form as well.
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            raise BadInput(f"{where} must be a JSON object (or a string holding one)") from None
    if not isinstance(value, dict):
        raise BadInput(f"{where} must be a JSON object, got {type(value).__name__}")
    try:
        size = len(orjson.dumps(value))
    except orjson.JSONEncodeError as error:
        raise BadInput(f"{where} cannot be stored as JSON: {error}") from None
    if size > max_bytes:
        raise BadInput(f"{where} is limited to {max_bytes} bytes of JSON, got {size}")
    return value


def _check_ip(remote_ip: str | None, where: str) -> str | None:
    if remote_ip is None:
        return None
    address = remote_ip.strip()
    canonical = _canonical_ip(address) if len(address) <= MAX_CACHED_IP_LENGTH else _parse_ip(address)
    if canonical is None:
        raise BadInput(f"{where}.remoteIP must be an IPv4 or IPv6 address, got {remote_ip[:64]!r}")
    return canonical


def _parse_ip(address: str) -> str | None:
    """The address in its canonical form (``::1``, ``10.0.0.1``), or None when it is none."""
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None


# A batch's events mostly come from a few addresses, and parsing one costs a quarter of validating it.
_canonical_ip = functools.lru_cache(maxsize=4096)(_parse_ip)
