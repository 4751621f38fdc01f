"""The cursor's documented form, checked against a reading written with the standard library: URL-safe
base64 without padding of the JSON array [version, microseconds since the epoch, row id, direction].
``encode_cursor`` runs once per edge of every page, so it is written for speed; this is its spec."""

from __future__ import annotations

import base64
import json
import random
from datetime import UTC, datetime, timedelta

from api.paging import CURSOR_VERSION, Cursor, Direction, decode_cursor, encode_cursor

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def spec_form(cursor: Cursor) -> str:
    micros = (cursor.created_at - EPOCH) // timedelta(microseconds=1)
    text = json.dumps([CURSOR_VERSION, micros, cursor.row_id, cursor.direction.value], separators=(",", ":"),
                      ensure_ascii=False)  # fmt: skip
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def test_cursors_have_the_documented_form_and_read_back() -> None:
    chance = random.Random(14)
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ?/+>é\"\\"
    moments = [EPOCH, EPOCH - timedelta(microseconds=1), datetime(9999, 12, 31, tzinfo=UTC) - timedelta(microseconds=1)]
    moments += [EPOCH + timedelta(microseconds=chance.randrange(-6 * 10**16, 2 * 10**17)) for _ in range(5_000)]
    for moment in moments:
        row_id = "".join(chance.choice(alphabet) for _ in range(chance.randrange(0, 30)))
        cursor = Cursor(moment, row_id, chance.choice(list(Direction)))
        encoded = encode_cursor(cursor)
        assert encoded == spec_form(cursor)
        assert "=" not in encoded and "+" not in encoded and "/" not in encoded
        assert decode_cursor(encoded, cursor.direction) == cursor
