"""The two export formats: NDJSON of the stored webhook bodies, and CSV for spreadsheets.

Both encode a whole batch of rows at once (one ``bytes`` per batch): the stream's cost is the
database and the socket, not a Python call per cell.
"""

from __future__ import annotations

import csv
import enum
import io
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol


class ExportFormat(enum.StrEnum):
    NDJSON = "ndjson"
    CSV = "csv"

    @property
    def media_type(self) -> str:
        return "application/x-ndjson" if self is ExportFormat.NDJSON else "text/csv; charset=utf-8"


CSV_COLUMNS = ("id", "time", "action", "eventType", "actor", "resources", "remoteIP", "body")
"""The CSV header, in order; ``body`` is the webhook body (JSON), ``time`` ISO 8601 UTC."""

# A cell starting with one of these is a formula to Excel, LibreOffice and Google Sheets (OWASP's
# list: tab and carriage return start one too); a leading apostrophe makes it text again.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class ExportRow(Protocol):
    """One row of ``api.export.stream.EXPORT_COLUMNS``, read by position (an asyncpg record)."""

    def __getitem__(self, index: int, /) -> Any: ...


# The positions of EXPORT_COLUMNS (api/export/stream.py).
(ID, CREATED_AT, ACTION, EVENT_TYPE, ACTOR, AFFECTED_TYPE, AFFECTED_ID, RELATED_TYPE, RELATED_ID, REMOTE_IP, BODY) = (
    range(11)
)


def neutralise_formula(cell: str) -> str:
    """``cell`` as text a spreadsheet will not evaluate: a formula-looking cell gets a leading ``'``."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def iso_utc(moment: datetime) -> str:
    """``2026-11-26T00:33:41.123Z``: milliseconds, the precision of an event's timestamp."""
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def resources_cell(row: ExportRow) -> str:
    """``affected=STACK:prod-eu;related=SPACE:root``, leaving out a resource the event does not have."""
    parts = []
    for role, resource_type, resource_id in (
        ("affected", row[AFFECTED_TYPE], row[AFFECTED_ID]),
        ("related", row[RELATED_TYPE], row[RELATED_ID]),
    ):
        if resource_type is not None:
            parts.append(f"{role}={resource_type}:{resource_id or ''}")
    return ";".join(parts)


def csv_header() -> bytes:
    """The first line of every CSV export, so an empty export still names its columns."""
    return _csv_lines([CSV_COLUMNS])


def csv_chunk(rows: Sequence[ExportRow]) -> bytes:
    """RFC 4180 lines (CRLF, quotes doubled) of ``rows``, every cell neutralised."""
    return _csv_lines(
        [
            row[ID],
            iso_utc(row[CREATED_AT]),
            row[ACTION],
            row[EVENT_TYPE],
            row[ACTOR],
            resources_cell(row),
            row[REMOTE_IP] or "",
            row[BODY],
        ]
        for row in rows
    )


def _csv_lines(rows: Iterable[Sequence[str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for row in rows:
        writer.writerow([neutralise_formula(cell) for cell in row])
    return buffer.getvalue().encode()


def ndjson_chunk(rows: Sequence[ExportRow]) -> bytes:
    """One stored webhook body per line: the bytes the webhook received, so one format everywhere."""
    return "".join([f"{row[BODY]}\n" for row in rows]).encode()


def encode_chunk(export_format: ExportFormat, rows: Sequence[ExportRow]) -> bytes:
    """One batch in ``export_format``: the only place that picks the encoder."""
    return ndjson_chunk(rows) if export_format is ExportFormat.NDJSON else csv_chunk(rows)
