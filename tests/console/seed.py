"""Seed events through the real API (auditTrailRecordEvents, explicit timestamps)."""

from __future__ import annotations

import time
from typing import Any

from tests.helpers import Api, Key

RECORD = "mutation($events: [AuditTrailEventInput!]!) { auditTrailRecordEvents(events: $events) { id body } }"
MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS


def ago(milliseconds: int) -> float:
    """The epoch milliseconds ``milliseconds`` before now."""
    return float(int(time.time() * 1000) - milliseconds)


def event_type_of(action: str) -> str:
    """The event type a Spacelift action name implies: ``*.create`` CREATE, ``*.delete`` DELETE, else UPDATE."""
    verb = action.rsplit(".", 1)[-1]
    return {"create": "CREATE", "delete": "DELETE"}.get(verb, "UPDATE")


def event(
    action: str, actor: str, when_ms: float, resource: tuple[str, str] | None = None, **fields: Any
) -> dict[str, Any]:
    """One AuditTrailEventInput."""
    seeded: dict[str, Any] = {
        "action": action,
        "actor": actor,
        "eventType": event_type_of(action),
        "timestamp": when_ms,
        **fields,
    }
    if resource is not None:
        seeded["affectedResource"] = {"resourceType": resource[0], "resourceId": resource[1]}
    return seeded


async def record(api: Api, key: Key, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Record ``events`` as ``key``; returns each entry's id and stored body."""
    result = await api.gql(RECORD, {"events": events}, token=key.jwt)
    entries: list[dict[str, Any]] = result.ok()["auditTrailRecordEvents"]
    return entries
