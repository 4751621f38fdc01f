"""Opaque keyset cursors: the (created_at, id) of the last entry of a page, and the page's direction.

A keyset cursor names a position, not an offset, so events inserted while a client pages never
shift what the next page returns: each event present throughout is returned exactly once.
"""

from __future__ import annotations

import base64
import binascii
import enum
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson

from api.errors import BadInput

CURSOR_VERSION = 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Direction(enum.StrEnum):
    ASC = "ASC"
    DESC = "DESC"


@dataclass(frozen=True)
class Cursor:
    created_at: datetime
    event_id: str
    direction: Direction


def encode_cursor(cursor: Cursor) -> str:
    micros = (cursor.created_at - _EPOCH) // timedelta(microseconds=1)
    raw = orjson.dumps([CURSOR_VERSION, micros, cursor.event_id, cursor.direction.value])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(value: str, direction: Direction) -> Cursor:
    """The cursor ``value`` names, or BAD_USER_INPUT if it is not one of ours for this direction."""
    invalid = BadInput("after must be the endCursor or an edge cursor of a previous page of this search")
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        version, micros, event_id, cursor_direction = orjson.loads(raw)
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError):
        raise invalid from None
    if version != CURSOR_VERSION or not isinstance(micros, int) or not isinstance(event_id, str):
        raise invalid
    if cursor_direction != direction.value:
        raise BadInput(f"after was returned by a {cursor_direction} search; page with the same orderBy direction")
    try:
        created_at = _EPOCH + timedelta(microseconds=micros)
    except OverflowError:
        raise invalid from None
    return Cursor(created_at=created_at, event_id=event_id, direction=direction)
