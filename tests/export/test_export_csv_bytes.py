"""The CSV export's exact bytes, against a reference written here in plain Python: ``csv.writer``
(RFC 4180, CRLF) over the stored columns, formula cells neutralised, times in ISO 8601 UTC.

The hostile values aim at everything the stream relies on: quotes, commas, CR and LF inside cells,
a cell that imitates a record's end (``}"`` and a newline), formula starts, COPY's end marker.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import orjson
from sqlmodel import col, select

from api.export import CSV_HEADER
from api.models import AuditEvent, Role
from tests.helpers import Api, Key
from tests.test_audit_support import ago, draft, predicate, seed

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

RECORD_END_LOOKALIKE = '}"\n'
HOSTILE_ACTORS = [
    "=cmd|' /C calc'!A0",
    "+1+1",
    "-2",
    "@SUM(A1)",
    "\tleading tab",
    "\rleading CR",
    'q"uote,comma',
    "line\nfeed",
    "carriage\rreturn",
    "crlf\r\nend",
    f"x{RECORD_END_LOOKALIKE}y",
    f'{RECORD_END_LOOKALIKE}"',
    '"\n',
    "\\.",
    "é ü 日本 🙂 \u2028",
    "trailing LF\n",
    " spaced ",
    # Either side of each range the export lets through unchecked (after "@", between "-" and "="):
    ",comma first",
    ".5",
    "9lives",
    "<tag>",
    ">",
    "?",
    "A",
    "`tick",
]


def neutralised(value: str | None) -> str:
    """The cell a spreadsheet shows as text: a formula start gets a leading apostrophe."""
    text = value or ""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def iso_utc(moment: datetime) -> str:
    """ISO 8601 UTC to the millisecond (an event's precision, truncated), ``Z`` for the zone."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def reference_row(event: AuditEvent) -> list[str]:
    resources = [
        f"{role}={kind}:{identifier or ''}"
        for role, kind, identifier in (
            ("affected", event.affected_resource_type, event.affected_resource_id),
            ("related", event.related_resource_type, event.related_resource_id),
        )
        if kind is not None
    ]
    return [
        event.id,
        iso_utc(event.created_at),
        neutralised(event.action),
        event.event_type,
        neutralised(event.actor),
        neutralised(";".join(resources)),
        neutralised(event.remote_ip),
        event.body,
    ]


def reference_csv(events: list[AuditEvent]) -> bytes:
    """What the export must send: header, then each event, every line CRLF-terminated."""
    written = io.StringIO()
    writer = csv.writer(written, lineterminator="\r\n")
    for event in events:
        writer.writerow(reference_row(event))
    return CSV_HEADER + written.getvalue().encode()


async def stored_newest_first(api: Api, account_id: str) -> list[AuditEvent]:
    async with api.db.transaction() as session:
        found = await session.scalars(
            select(AuditEvent)
            .where(AuditEvent.account_id == account_id)
            .where(col(AuditEvent.action).like("stack.%"))
            .order_by(col(AuditEvent.created_at).desc(), col(AuditEvent.id).desc())
        )
        return list(found.all())


async def export_stack_events(api: Api, key: Key) -> bytes:
    only_stack = orjson.dumps({"predicates": [predicate("action", stringMatches=["stack.*"])]}).decode()
    response = await api.client.get(
        "/export", params={"format": "csv", "input": only_stack}, headers={"Authorization": f"Bearer {key.jwt}"}
    )
    assert response.status_code == 200, response.text
    return response.content


async def test_csv_export_bytes_equal_the_reference_over_hostile_cells(api: Api) -> None:
    key = await api.key("acme", Role.ADMIN)
    drafts = [
        draft(
            "stack.create",
            actor,
            at=ago(minutes=60 - index),
            affected=("STACK", actor) if index % 2 else None,
            related=("SPACE", None if index % 3 else f"-{actor}"),
            remote_ip=actor if index % 4 else ("" if index % 8 else None),
            data={"actor": actor, "n": index},
        )
        for index, actor in enumerate(HOSTILE_ACTORS)
    ]
    drafts += [draft(actor, "plain", at=ago(minutes=1)) for actor in ("stack.=formula", "stack.a,b", "stack.\r\n")]
    await seed(api.db, key.account_id, drafts)

    exported = await export_stack_events(api, key)

    assert exported == reference_csv(await stored_newest_first(api, key.account_id))
    assert exported.count(b"\r\n") >= len(drafts) + 1


async def test_csv_export_of_many_rows_crossing_batches_equals_the_reference(api: Api) -> None:
    key = await api.key("acme", Role.READER)
    drafts = [
        draft("stack.update", HOSTILE_ACTORS[index % len(HOSTILE_ACTORS)], at=ago(seconds=index + 1), data={"i": index})
        for index in range(1200)
    ]
    await seed(api.db, key.account_id, drafts)

    exported = await export_stack_events(api, key)

    assert exported == reference_csv(await stored_newest_first(api, key.account_id))
