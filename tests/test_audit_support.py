"""Factories for audit event tests: events at explicit times, written by the real ``record_events``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text

from api.audit.record import EventDraft, Resource, RunRef, record_events
from api.db import Database
from api.models import EventType

ENTRY_FIELDS = """
    id action eventType runStateChange
    actor { username source identity run { id stackId } }
    affectedResource { resourceType resourceId }
    relatedResource { resourceType resourceId }
    body data context remoteIP createdAt updatedAt timestamp
"""

SEARCH = (
    "query($input: SearchInput!) { searchAuditTrailEntries(input: $input) {"
    " edges { cursor node { id action actor { username } createdAt } }"
    " pageInfo { endCursor hasNextPage hasPreviousPage } } }"
)


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def ago(**delta: float) -> datetime:
    return datetime.now(UTC) - timedelta(**delta)


def draft(
    action: str = "stack.create",
    actor: str = "github::alice",
    *,
    at: datetime | None = None,
    event_type: EventType = EventType.CREATE,
    run_state_change: bool = False,
    affected: tuple[str, str | None] | None = None,
    related: tuple[str, str | None] | None = None,
    remote_ip: str | None = None,
    data: dict[str, Any] | None = None,
) -> EventDraft:
    return EventDraft(
        action=action,
        actor=actor,
        timestamp_ms=ms(at or ago(minutes=5)),
        event_type=event_type,
        run_state_change=run_state_change,
        affected_resource=Resource(*affected) if affected else None,
        related_resource=Resource(*related) if related else None,
        run=RunRef("run-1", "stack-1") if run_state_change else None,
        remote_ip=remote_ip,
        data=data or {},
    )


async def seed(db: Database, account_id: str, drafts: list[EventDraft], account_name: str = "acme") -> list[str]:
    """Record ``drafts`` for the account as a service would; returns the event ids in order."""
    async with db.transaction() as session:
        batch = await record_events(session, drafts, account_id=account_id, account_name=account_name, recorded_by=None)
    return [event.id for event in batch.events]


async def event_count(db: Database, account_id: str | None = None) -> int:
    async with db.transaction() as session:
        if account_id is None:
            return int((await session.execute(text("SELECT count(*) FROM audit_events"))).scalar_one())
        result = await session.execute(
            text("SELECT count(*) FROM audit_events WHERE account_id = :a"), {"a": account_id}
        )
        return int(result.scalar_one())


def predicate(field: str, exclude: bool = False, **constraint: Any) -> dict[str, Any]:
    return {"field": field, "constraint": constraint, "exclude": exclude}
