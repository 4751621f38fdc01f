"""The two export formats as the columns PostgreSQL selects per row: the stored webhook body
(NDJSON), or the CSV's cells, each already its final text, which ``COPY``'s own CSV writer quotes.

PostgreSQL computes every cell and writes every line, so the export has no Python work per row or
per cell: it only passes ``COPY``'s bytes on (``api.export.copy``).  The CSV is what Python's
``csv.writer`` writes (minimal quoting, quotes doubled, CRLF), every cell a person or a client
chose neutralised against spreadsheet formulas.
"""

from __future__ import annotations

import enum
import functools

from sqlalchemy import (
    ColumnElement,
    Label,
    SQLColumnExpression,
    String,
    case,
    func,
    literal,
    literal_column,
    or_,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import asyncpg
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

BODY_COLUMN = "body"
"""The label of the body, the last CSV column: ``COPY`` always quotes it (``api.export.copy``)."""

# A cell starting with one of these is a formula to Excel, LibreOffice and Google Sheets (OWASP's
# list: tab and carriage return start one too); a leading apostrophe makes it text again.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

ABOVE_FORMULA_STARTS = ord("@") + 1
"""Code points from here on start no formula and no empty cell: letters, most punctuation, all of Unicode."""
DIGITS_AND_DOTS = (ord("-") + 1, ord("=") - 1)
"""Code points between ``-`` and ``=`` (digits, ``.``, ``/``, ``:``, ``;``, ``<``): no formula starts there either."""

# ``time``: milliseconds (truncated, as Python's isoformat), the precision of an event's timestamp.
ISO_UTC_MILLISECONDS = 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'


def neutralised_cell(value: SQLColumnExpression[str | None]) -> ColumnElement[str | None]:
    """The cell's text with a formula start behind a leading ``'``; NULL when empty or missing,
    because ``COPY`` writes NULL as nothing but quotes an empty string (``csv.writer`` does not)."""
    # ascii() is the first character's code point (0 for '', NULL for NULL): no substring per row.
    # Most cells start with a letter or a digit: one or two comparisons settle them, and only the
    # rest pay for the list of formula starts and the test for an empty cell.
    first = func.ascii(value)
    return case(
        (or_(first >= ABOVE_FORMULA_STARTS, first.between(*DIGITS_AND_DOTS)), value),
        (first.in_([ord(start) for start in FORMULA_STARTS]), literal("'", String) + value),
        else_=func.nullif(value, literal("", String)),
    )


def _resource(
    role: str, resource_type: SQLColumnExpression[str | None], resource_id: SQLColumnExpression[str | None]
) -> ColumnElement[str]:
    """``affected=STACK:prod-eu``, or NULL when the event has no such resource (``||`` with NULL is NULL)."""
    return literal(f"{role}=", String) + resource_type + ":" + func.coalesce(resource_id, literal("", String))


def _resources(
    affected: ColumnElement[str], affected_type: SQLColumnExpression[str | None], related: ColumnElement[str]
) -> ColumnElement[str | None]:
    """``affected=...;related=...``, either alone, or NULL for neither: one CASE, no function to join them."""
    return case(
        (affected_type.is_(None), related),
        else_=affected + func.coalesce(literal(";", String) + related, literal("", String)),
    )


def csv_cells() -> list[ColumnElement[str | None]]:
    """The event's cells in ``CSV_COLUMNS`` order, each its final text (NULL for an empty cell)."""
    resources = _resources(
        _resource("affected", col(AuditEvent.affected_resource_type), col(AuditEvent.affected_resource_id)),
        col(AuditEvent.affected_resource_type),
        _resource("related", col(AuditEvent.related_resource_type), col(AuditEvent.related_resource_id)),
    )
    return [
        # A ULID, a fixed time format and an enum name: never empty, a formula, a quote, a comma or a newline.
        type_coerce(col(AuditEvent.id), String),
        func.to_char(func.timezone("UTC", col(AuditEvent.created_at)), ISO_UTC_MILLISECONDS),
        neutralised_cell(col(AuditEvent.action)),
        type_coerce(col(AuditEvent.event_type), String),
        neutralised_cell(col(AuditEvent.actor)),
        # Starts with "affected=" or "related=": never a formula, never empty (NULL for no resource).
        resources,
        neutralised_cell(col(AuditEvent.remote_ip)),
        type_coerce(col(AuditEvent.body), String),
    ]


@functools.cache
def export_columns(export_format: ExportFormat) -> tuple[Label[str], ...]:
    """What an export selects: the stored body alone (``COPY`` adds the newline), or the CSV's cells.

    Rendered to SQL once per process: compiling the cells' CASEs anew cost more of an export's own
    CPU than the rest of its request.  Their only values are our constants, hence ``literal_binds``.
    """
    body: ColumnElement[str | None] = type_coerce(col(AuditEvent.body), String)
    cells = [body] if export_format is ExportFormat.NDJSON else csv_cells()
    names = (BODY_COLUMN,) if export_format is ExportFormat.NDJSON else CSV_COLUMNS
    dialect = asyncpg.dialect()  # type: ignore[no-untyped-call]  # SQLAlchemy's dialects are untyped
    return tuple(
        literal_column(str(cell.compile(dialect=dialect, compile_kwargs={"literal_binds": True})), String).label(name)
        for cell, name in zip(cells, names, strict=True)
    )
