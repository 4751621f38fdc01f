"""Whether an event row's columns say what its hashed body says: an attacker who edits a searched
column (``action``, ``actor``, ...) and leaves the body alone is caught here, not by the hash."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from ulid import ULID

from api.audit.actors import actor_source
from api.audit.hashing import event_hash


@dataclass(frozen=True, kw_only=True)
class StoredEvent:
    """An event row as verification reads it."""

    id: str
    created_at: datetime
    action: str
    actor: str
    actor_source: str
    context: Any
    data: Any
    remote_ip: str | None
    body: str
    event_hash: bytes | None


def disagreements(event: StoredEvent, account_name: str) -> list[str]:
    """The names of the columns (and the stored hash) that disagree with the body; empty when all agree."""
    try:
        body = orjson.loads(event.body)
    except orjson.JSONDecodeError:
        return ["body (not JSON)"]
    if not isinstance(body, dict):
        return ["body (not a JSON object)"]
    timestamp_ms = round(event.created_at.timestamp() * 1000)
    expected: dict[str, tuple[Any, Any]] = {
        "account": (body.get("account"), account_name),
        "action": (body.get("action"), event.action),
        "actor": (body.get("actor"), event.actor),
        "actor_source": (actor_source(str(body.get("actor"))), event.actor_source),
        "context": (body.get("context"), event.context),
        "data": (body.get("data"), event.data),
        "remote_ip": (body.get("remoteIP"), event.remote_ip),
        "created_at": (body.get("timestamp"), timestamp_ms),
        "id": (body.get("timestamp"), _id_milliseconds(event.id)),
    }
    wrong = [name for name, (in_body, in_column) in expected.items() if in_body != in_column]
    if event.event_hash is not None and event.event_hash != event_hash(event.id, event.body):
        wrong.append("event_hash")
    return wrong


def _id_milliseconds(event_id: str) -> int | None:
    """The time an event id carries (ids are ULIDs of the event's time)."""
    try:
        return ULID.from_str(event_id).milliseconds
    except ValueError:
        return None
