"""The lines PostgreSQL builds and ``COPY`` sends: the CSV is what Python's ``csv.writer`` writes, and
only its records' ends become CRLF, whatever bytes the values hold and wherever the pieces are cut."""

from __future__ import annotations

import csv
import io

import orjson
import pytest

from api.export.copy import CsvRecords, PlainLines
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


def test_only_record_ends_become_crlf_wherever_the_pieces_are_cut() -> None:
    # What COPY (FORMAT csv, FORCE_QUOTE (body)) sends: the body a quoted JSON object, LF after each record.
    records = [
        b'010,plain,"{""a"":{""b"":""}""}}"',
        b'01A,"a\nb}""\n",,"{""k"":""}\\""""}"',
        b'01B,"\r\n""}""\n""",x,"{}"',
        b'01C,plain,"}""\r\n","{""a"":1}"',
        b'01D,plain,"{""a"":[1,2]}"',
        b'01E,"quoted, no LF","{""z"":0}"',
    ]
    sent = b"".join(record + b"\n" for record in records)
    expected = b"".join(record + b"\r\n" for record in records)
    for cut in range(1, len(sent)):
        for pieces in (
            (sent[:cut], sent[cut:]),
            (bytearray(sent[:cut]), bytearray(sent[cut:])),
        ):  # as asyncpg hands them
            reader = CsvRecords()
            first, second = (reader.feed(piece) for piece in pieces)
            reader.finish()
            assert (first.data + second.data, first.rows + second.rows) == (expected, len(records))


def test_a_csv_copy_cut_short_inside_a_record_is_an_error() -> None:
    reader = CsvRecords()
    assert reader.feed(b'01A,x,"{""a"":1}"\n01B,y,"{""b').rows == 1
    with pytest.raises(RuntimeError, match="COPY ended inside a record"):
        reader.finish()


def test_plain_bodies_pass_untouched_and_a_framed_row_stops_the_export() -> None:
    lines = PlainLines()
    chunk = lines.feed(b'{"a":"\\u0002\\n"}\n{"b":1}\n{"c"')
    assert (chunk.data, chunk.rows) == (b'{"a":"\\u0002\\n"}\n{"b":1}\n{"c"', 2)
    with pytest.raises(RuntimeError, match="not JSON the service wrote"):
        lines.feed(b'\x02{"raw":"\n"}\x02\n')
