"""Whether an event row's columns say what its hashed body says: an attacker who edits a searched
column (``action``, ``actor``, ...) and leaves the body alone is caught here, not by the hash.

Verification runs this once per event, a million times for a busy interval: one parse of the body,
the columns compared as one tuple, and the names of the columns that differ worked out only when
they do.
"""

from __future__ import annotations

from typing import NamedTuple

import orjson

from api.audit.actors import actor_source

COMPARED_COLUMNS = ("account", "action", "actor", "actor_source", "context", "data", "remote_ip", "created_at", "id")
"""What ``disagreements`` names, in the order of the tuples it compares."""

ULID_TIME_MAX = (1 << 48) - 1
CROCKFORD_BASE32 = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_AS_PYTHON_BASE32 = str.maketrans(
    {chr(code): "!" for code in range(128)}  # any other ASCII character: not a digit, int() refuses it
    | dict(zip(CROCKFORD_BASE32 + CROCKFORD_BASE32.lower(), "0123456789abcdefghijklmnopqrstuv" * 2, strict=True))
)


class StoredEvent(NamedTuple):
    """An event row as verification reads it, in the order of its SELECT."""

    id: str
    created_at_us: int
    """``created_at`` in microseconds since the epoch (an integer: cheaper than a datetime, and exact)."""
    action: str
    actor: str
    actor_source: str
    context_json: str
    data_json: str
    """``context`` and ``data`` as PostgreSQL prints the jsonb: parsed here, with orjson, to compare."""
    remote_ip: str | None
    body: bytes
    """The body's UTF-8 bytes, as hashed."""
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
    actor, timestamp = body.get("actor"), body.get("timestamp")
    in_body = (
        body.get("account"),
        body.get("action"),
        actor,
        actor_source(str(actor)),
        body.get("context"),
        body.get("data"),
        body.get("remoteIP"),
        timestamp,
        timestamp,
    )
    in_columns = (
        account_name,
        event.action,
        event.actor,
        event.actor_source,
        orjson.loads(event.context_json),
        orjson.loads(event.data_json),
        event.remote_ip,
        round(event.created_at_us / 1000),
        id_milliseconds(event.id[:10]),
    )
    wrong = (
        []
        if in_body == in_columns
        else [n for n, b, c in zip(COMPARED_COLUMNS, in_body, in_columns, strict=True) if b != c]
    )
    if event.event_hash is not None and event.event_hash != actual_hash:
        wrong.append("event_hash")
    return wrong


def id_milliseconds(event_id_time: str) -> int | None:
    """The time an event id's first 10 characters carry (ids are ULIDs of the event's time); None
    when they are not a ULID's time.  Crockford's base 32 read by ``int(..., 32)`` after mapping its
    digits onto Python's: a ULID parse per event cost more than the rest of the check."""
    if len(event_id_time) != 10 or not event_id_time.isascii():  # int() would read other scripts' digits
        return None
    try:
        milliseconds = int(event_id_time.translate(_AS_PYTHON_BASE32), 32)
    except ValueError:
        return None
    return milliseconds if milliseconds <= ULID_TIME_MAX else None
