"""Whether an event row's columns say what its hashed body says: an attacker who edits a searched
column (``action``, ``actor``, ...) and leaves the body alone is caught here, not by the hash."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from ulid import ULID

from api.audit.actors import actor_source


@dataclass(frozen=True, kw_only=True)
class StoredEvent:
    """An event row as verification reads it."""

    id: str
    created_at: datetime
    action: str
    actor: str
    actor_source: str
    context_json: str
    data_json: str
    """``context`` and ``data`` as PostgreSQL prints the jsonb: parsed here, with orjson, to compare."""
    remote_ip: str | None
    body: str
    event_hash: bytes | None


def disagreements(event: StoredEvent, account_name: str, actual_hash: bytes) -> list[str]:
    """The names of the columns (and the stored hash) that disagree with the body (whose hash is
    ``actual_hash``); empty when all agree."""
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
        "context": (body.get("context"), orjson.loads(event.context_json)),
        "data": (body.get("data"), orjson.loads(event.data_json)),
        "remote_ip": (body.get("remoteIP"), event.remote_ip),
        "created_at": (body.get("timestamp"), timestamp_ms),
        "id": (body.get("timestamp"), _id_milliseconds(event.id[:10])),
    }
    wrong = [name for name, (in_body, in_column) in expected.items() if in_body != in_column]
    if event.event_hash is not None and event.event_hash != actual_hash:
        wrong.append("event_hash")
    return wrong


@functools.lru_cache(maxsize=4096)
def _id_milliseconds(event_id_time: str) -> int | None:
    """The time an event id's first 10 characters carry (ids are ULIDs of the event's time); cached,
    since events recorded together share it."""
    try:
        return ULID.from_str(event_id_time + "0" * 16).milliseconds
    except ValueError:
        return None
