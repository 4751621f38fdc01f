"""Keyset paging shared by every connection: opaque cursors and the one page-size rule.

A cursor names a position, the (created_at, id) of the last row of a page and the page's
direction, not an offset: rows inserted while a client pages never shift what the next page
returns, so each row present throughout is returned exactly once.
"""

from __future__ import annotations

import base64
import binascii
import enum
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson
from sqlalchemy import Integer, bindparam
from sqlalchemy.sql.elements import BindParameter

from api.errors import BadInput

CURSOR_VERSION = 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Direction(enum.StrEnum):
    ASC = "ASC"
    DESC = "DESC"


@dataclass(frozen=True)
class Cursor:
    created_at: datetime
    row_id: str
    direction: Direction


def encode_cursor(cursor: Cursor) -> str:
    """The opaque form handed to clients (URL-safe base64 of a small JSON array)."""
    # One per edge of every page: integer arithmetic and binascii, not timedelta division and base64's wrappers.
    since = cursor.created_at - _EPOCH
    micros = (since.days * 86_400 + since.seconds) * 1_000_000 + since.microseconds
    raw = orjson.dumps([CURSOR_VERSION, micros, cursor.row_id, cursor.direction.value])
    return binascii.b2a_base64(raw, newline=False).translate(_URL_SAFE).decode().rstrip("=")


_URL_SAFE = bytes.maketrans(b"+/", b"-_")


def decode_cursor(value: str, direction: Direction) -> Cursor:
    """The cursor ``value`` names, or BAD_USER_INPUT if it is not one of ours for this direction."""
    invalid = BadInput("after must be the endCursor or an edge cursor of a previous page of this connection")
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        version, micros, row_id, cursor_direction = orjson.loads(raw)
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError):
        raise invalid from None
    if version != CURSOR_VERSION or not isinstance(micros, int) or not isinstance(row_id, str):
        raise invalid
    if cursor_direction != direction.value:
        raise BadInput(f"after was returned by a {cursor_direction} search; page with the same orderBy direction")
    try:
        created_at = _EPOCH + timedelta(microseconds=micros)
    except OverflowError:
        raise invalid from None
    return Cursor(created_at=created_at, row_id=row_id, direction=direction)


def check_page_size(first: int | None, *, default: int, maximum: int) -> int:
    """``first`` as given or the default, or BAD_USER_INPUT when it is outside 1..maximum."""
    size = default if first is None else first
    if not 1 <= size <= maximum:
        raise BadInput(f"first must be between 1 and {maximum}, got {size}")
    return size


def planned_limit(rows: int) -> BindParameter[int]:
    """A page's LIMIT written into the statement's text instead of sent as a parameter.

    asyncpg prepares each statement once per connection, and PostgreSQL soon reuses one generic plan
    for it.  With the LIMIT a parameter that plan is costed for a tenth of the matching rows: on the
    daily partitions a page of 50 took 6.8 ms instead of 0.8 ms (200,000 events, 40 partitions).
    With the number in the text each page size gets its own prepared statement, a few at most.
    """
    return bindparam(None, rows, type_=Integer, literal_execute=True)
