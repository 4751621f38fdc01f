"""The lines PostgreSQL builds and ``COPY`` sends: the CSV is what Python's ``csv.writer`` writes, and
``COPY``'s framing comes off exactly, whatever bytes the values hold and wherever the pieces are cut."""

from __future__ import annotations

import csv
import io

import orjson
import pytest

from api.export.copy import CopyUnwrapper, PlainLines
from api.models import Role
from tests.export.support import csv_records
from tests.helpers import Api
from tests.test_audit_support import ago, draft, predicate, seed

CONTROL = "\x01\x02\x02\n\r\t"


async def test_csv_export_is_byte_for_byte_what_csv_writer_writes(api: Api) -> None:
    key = await api.key("acme", Role.ADMIN)
    hostile = [
        draft("stack.create", f"x{CONTROL}y::a", at=ago(minutes=6), affected=("STACK", f"\x02{CONTROL}")),
        draft("stack.create", 'q"uote,comma::b', at=ago(minutes=5), related=("SPACE", None), remote_ip=""),
        draft("stack.create", "\x02\x02::c", at=ago(minutes=4), data={"raw": CONTROL, "formula": "=1"}),
        draft("stack.create", "+cmd::d", at=ago(minutes=3), affected=("STACK", "s"), related=("SPACE", "root")),
        draft("stack.create", "plain::e", at=ago(minutes=2), remote_ip="10.0.0.1"),
    ]
    await seed(api.db, key.account_id, hostile)
    only_these = orjson.dumps({"predicates": [predicate("action", stringMatches=["stack.create"])]}).decode()
    response = await api.client.get(
        "/export", params={"format": "csv", "input": only_these}, headers={"Authorization": f"Bearer {key.jwt}"}
    )
    assert response.status_code == 200, response.text
    records = csv_records(response.content)
    assert [record["actor"] for record in records] == [
        "plain::e",
        "'+cmd::d",
        "\x02\x02::c",
        'q"uote,comma::b',
        f"x{CONTROL}y::a",
    ]
    assert records[-1]["resources"] == f"affected=STACK:\x02{CONTROL}"
    assert records[-2]["resources"] == "related=SPACE:" and records[-2]["remoteIP"] == ""
    assert orjson.loads(records[2]["body"])["data"] == {"raw": CONTROL, "formula": "=1"}
    rewritten = io.StringIO()
    writer = csv.writer(rewritten, lineterminator="\r\n")
    writer.writerow(records[0].keys())
    writer.writerows(record.values() for record in records)
    assert response.content == rewritten.getvalue().encode()


def test_copy_framing_comes_off_the_same_wherever_the_pieces_are_cut() -> None:
    lines = [b'{"a":"\\u0002"}\n', b'id,\x02\x02\x02\x02,"a\nb"\r\n', b"\x02\n\x02,x\r\n", b"{}\n"]
    # What COPY (FORMAT csv, QUOTE E'\x02') sends for these values: framed, inner quotes doubled.
    sent = b"".join(b"\x02" + line.replace(b"\x02", b"\x02\x02") + b"\x02\n" for line in lines)
    whole = CopyUnwrapper()
    assert whole.feed(sent).data == b"".join(lines)
    for cut in range(1, len(sent)):
        unwrapper = CopyUnwrapper()
        first, second = unwrapper.feed(sent[:cut]), unwrapper.feed(sent[cut:])
        unwrapper.finish()
        assert first.data + second.data == b"".join(lines)
        assert first.rows + second.rows == len(lines)


def test_plain_bodies_pass_untouched_and_a_framed_row_stops_the_export() -> None:
    lines = PlainLines()
    chunk = lines.feed(b'{"a":"\\u0002\\n"}\n{"b":1}\n{"c"')
    assert (chunk.data, chunk.rows) == (b'{"a":"\\u0002\\n"}\n{"b":1}\n{"c"', 2)
    with pytest.raises(RuntimeError, match="not JSON the service wrote"):
        lines.feed(b'\x02{"raw":"\n"}\x02\n')
