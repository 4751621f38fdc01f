"""The two export formats as the one column PostgreSQL selects per row: the stored webhook body
(NDJSON, ``COPY`` ends each with a newline), or a whole RFC 4180 CSV line built in SQL.

PostgreSQL builds each line, so the export has no Python work per row or per cell: it only passes
``COPY``'s bytes on (``api.export.copy``).  The CSV line is what Python's ``csv.writer`` writes
(minimal quoting, quotes doubled, CRLF), every cell neutralised against spreadsheet formulas.
"""

from __future__ import annotations

import enum

from sqlalchemy import ColumnElement, SQLColumnExpression, String, case, func, literal, type_coerce
from sqlmodel import col

from api.models import AuditEvent


class ExportFormat(enum.StrEnum):
    NDJSON = "ndjson"
    CSV = "csv"

    @property
    def media_type(self) -> str:
        return "application/x-ndjson" if self is ExportFormat.NDJSON else "text/csv; charset=utf-8"


CSV_COLUMNS = ("id", "time", "action", "eventType", "actor", "resources", "remoteIP", "body")
"""The CSV header, in order; ``body`` is the webhook body (JSON), ``time`` ISO 8601 UTC."""

CSV_HEADER = (",".join(CSV_COLUMNS) + "\r\n").encode()
"""The first line of every CSV export, so an empty export still names its columns."""

# A cell starting with one of these is a formula to Excel, LibreOffice and Google Sheets (OWASP's
# list: tab and carriage return start one too); a leading apostrophe makes it text again.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

# A cell holding one of these is quoted, as csv.writer's QUOTE_MINIMAL does with "," and CRLF.
NEEDS_QUOTES = '[",\r\n]'

# ``time``: milliseconds (truncated, as Python's isoformat), the precision of an event's timestamp.
ISO_UTC_MILLISECONDS = 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'


def _text(value: SQLColumnExpression[str | None]) -> ColumnElement[str]:
    """A column or expression as SQL text; ``||`` binds as string concatenation."""
    return func.coalesce(value, literal("", String))


def csv_cell(value: SQLColumnExpression[str | None]) -> ColumnElement[str]:
    """One cell: neutralised (a formula start gets a leading ``'``), then quoted when it must be."""
    text = _text(value)
    neutral = case((func.left(text, 1).in_(FORMULA_STARTS), literal("'", String) + text), else_=text)
    quoted = literal('"', String) + func.replace(neutral, '"', '""') + literal('"', String)
    return case((neutral.regexp_match(NEEDS_QUOTES), quoted), else_=neutral)


def _resource(
    role: str, resource_type: SQLColumnExpression[str | None], resource_id: SQLColumnExpression[str | None]
) -> ColumnElement[str]:
    """``affected=STACK:prod-eu``, or NULL when the event has no such resource (concat_ws skips it)."""
    return case(
        (resource_type.is_not(None), literal(f"{role}=", String) + resource_type + ":" + _text(resource_id)),
        else_=None,
    )


def csv_line() -> ColumnElement[str]:
    """The event as one CSV line, CRLF included, in ``CSV_COLUMNS`` order."""
    resources = func.concat_ws(
        ";",
        _resource("affected", col(AuditEvent.affected_resource_type), col(AuditEvent.affected_resource_id)),
        _resource("related", col(AuditEvent.related_resource_type), col(AuditEvent.related_resource_id)),
    )
    cells = [
        # A ULID, a fixed time format and an enum name: never a formula, a quote, a comma or a newline.
        col(AuditEvent.id),
        func.to_char(func.timezone("UTC", col(AuditEvent.created_at)), ISO_UTC_MILLISECONDS),
        csv_cell(col(AuditEvent.action)),
        type_coerce(col(AuditEvent.event_type), String),
        csv_cell(col(AuditEvent.actor)),
        csv_cell(resources),
        csv_cell(col(AuditEvent.remote_ip)),
        _json_object_cell(col(AuditEvent.body)),
    ]
    return func.concat_ws(",", *cells) + literal("\r\n", String)


def _json_object_cell(body: SQLColumnExpression[str]) -> ColumnElement[str]:
    """The body, a JSON object: it starts with ``{`` (never a formula) and always holds quotes, so it is
    always quoted, as csv.writer quotes it; the biggest cell of a line is spared the checks."""
    return literal('"', String) + func.replace(body, '"', '""') + literal('"', String)


def export_line(export_format: ExportFormat) -> ColumnElement[str]:
    """The one column an export selects: the stored body (``COPY`` adds the newline), or the CSV line."""
    return type_coerce(col(AuditEvent.body), String) if export_format is ExportFormat.NDJSON else csv_line()
