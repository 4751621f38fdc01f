"""Record one audited change, whoever made it: a GraphQL mutation or an operator's CLI command.

Both edges describe the change the same way (action, event type, who acted, the facts the domain
function returned, the arguments) so that an event reads alike wherever the change came from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from api.audit.facts import AuditFacts, Principal
from api.audit.record import (
    ChangeStatement,
    EventDraft,
    RecordedBatch,
    Recording,
    now_ms,
    record_events_as,
    record_events_with,
)
from api.audit.sanitize import sanitize_args
from api.models import EventType


@dataclass(frozen=True)
class Change:
    """An audited change as its edge knows it, before it is recorded."""

    action: str
    event_type: EventType
    principal: Principal
    facts: AuditFacts
    context: Mapping[str, Any]
    """Where the change came from: the mutation and request, or the CLI command."""
    args: Mapping[str, Any]
    """Plain arguments (``data.args``); secrets are removed here, never by the caller."""
    remote_ip: str | None = None
    outcome: Mapping[str, Any] | None = None
    """What the change did when the arguments do not say it (``data.result``: rows a retention run deleted)."""


async def record_change(
    session: AsyncSession, change: Change, *, deliveries_due_in_seconds: float = 0.0
) -> RecordedBatch:
    """Record ``change`` (and the delivery it owes) in the caller's transaction."""
    recording = _recording(change, deliveries_due_in_seconds=deliveries_due_in_seconds)
    return await record_events_as(session, [change_draft(change)], recording)


async def record_change_with(connection: AsyncConnection, change: Change, statement: ChangeStatement) -> RecordedBatch:
    """Write ``statement`` (the change itself) and record ``change`` in one statement on ``connection``."""
    return await record_events_with(connection, statement, [change_draft(change)], _recording(change))


def _recording(change: Change, *, deliveries_due_in_seconds: float = 0.0) -> Recording:
    """Whose event ``change`` is, and which webhook gets its delivery."""
    principal = change.principal
    return Recording(
        account_id=principal.account_id,
        account_name=principal.account_name,
        recorded_by=principal.key_id,
        forced_webhook_id=change.facts.final_payload_webhook_id,
        deliveries_due_in_seconds=deliveries_due_in_seconds,
    )


def change_draft(change: Change) -> EventDraft:
    """The event of ``change``, its arguments sanitized."""
    facts = change.facts
    data: dict[str, Any] = {"args": sanitize_args(change.args)} if facts.records_args else {}
    if change.outcome is not None:
        data["result"] = sanitize_args(change.outcome)
    return EventDraft(
        action=change.action,
        event_type=change.event_type,
        actor=change.principal.actor,
        timestamp_ms=now_ms(),
        context=dict(change.context),
        data=data,
        remote_ip=change.remote_ip,
        affected_resource=facts.affected_resource,
        related_resource=facts.related_resource,
    )
