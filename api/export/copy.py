"""``COPY (<the export's select>) TO STDOUT``'s options per format, and its bytes made into our lines.

- NDJSON selects the body alone, in CSV mode with ``QUOTE E'\\x02'``: ``COPY`` passes a value on
  verbatim, then a newline, framing it in ``\\x02`` only if it holds a newline, CR, ``\\x01`` or
  ``\\x02`` (text mode would escape every backslash of the JSON).  A stored body is JSON as the
  service wrote it, which escapes every control character: no row is ever framed, and
  ``PlainLines`` passes the bytes on untouched, refusing to go on should a ``\\x02`` ever show one.
- CSV selects the cells (``api.export.formats``) and ``COPY``'s own CSV writer quotes them as
  ``csv.writer`` does, but ends each record with LF where RFC 4180 wants CRLF.  ``CsvRecords``
  turns each record's end, and only that, into CRLF: an LF inside a quoted cell stays.
"""

from __future__ import annotations

from dataclasses import dataclass
from operator import methodcaller
from typing import Protocol, cast

from api.export.formats import BODY_COLUMN, ExportFormat

NDJSON_COPY_OPTIONS: dict[str, object] = {"format": "csv", "delimiter": "\x01", "quote": "\x02"}
"""asyncpg's ``copy_from_query`` options for the bodies; the delimiter never matters (one column)."""

CSV_COPY_OPTIONS: dict[str, object] = {"format": "csv", "force_quote": [BODY_COLUMN]}
"""RFC 4180's comma and double quote (CSV mode's defaults); the body always quoted, as
``csv.writer`` quotes it (a JSON object holds quotes) and as the record's end needs (below)."""

_QUOTE = b"\x02"

_BODY_END = b'}"'
_RECORD_END = _BODY_END + b"\n"
"""A body is a JSON object (it ends in ``}``), quoted, and the last cell: a record ends ``}"`` LF.
Nowhere else: inside a quoted cell every ``"`` is doubled (``}""``), an unquoted cell holds no
``"``, and a quoted cell other than the last is followed by a comma."""
_CRLF_RECORD_END = b'}"\r\n'
_ends_a_record = methodcaller("endswith", _BODY_END)
"""Whether a piece of ``COPY``'s output up to a LF is a record (asyncpg hands over bytes or bytearray)."""


@dataclass(frozen=True)
class ExportChunk:
    """Whole exported lines and how many they are (the log and the CLI's progress count rows)."""

    data: bytes
    rows: int


@dataclass(frozen=True)
class Lines:
    """What a reader completed from ``COPY``'s output: whole lines, and how many."""

    data: bytes | bytearray
    rows: int


class LineReader(Protocol):
    """One ``COPY``'s output, fed as asyncpg hands it over, made into the lines an export sends."""

    def feed(self, piece: bytes | bytearray) -> Lines:
        """The whole lines ``piece`` completes, as the export sends them."""

    def finish(self) -> None:
        """Called once ``COPY`` has ended; raises when its output was cut short."""


class PlainLines:
    """``COPY``'s output of the bodies, passed on as it comes: it already is NDJSON."""

    def feed(self, piece: bytes | bytearray) -> Lines:
        if _QUOTE in piece:
            raise RuntimeError("a stored body holds a control character: it is not JSON the service wrote")
        return Lines(piece, piece.count(b"\n"))

    def finish(self) -> None:
        """Nothing is held back between pieces."""


class CsvRecords:
    """``COPY``'s CSV, fed in pieces cut anywhere, as whole records ending in CRLF."""

    def __init__(self) -> None:
        self._partial: bytes | bytearray = b""

    def feed(self, piece: bytes | bytearray) -> Lines:
        """The records ``piece`` completes (none while a record is still arriving)."""
        segments = cast(list[bytes | bytearray], piece.split(b"\n"))
        segments[0] = self._partial + segments[0]
        # Usually no cell holds a LF and every LF ends a record: then the pieces between LFs are the
        # records, joined again with CRLF.  Checking each record's end costs less than counting ``}"`` LF
        # over the bytes (a search for three bytes), and the split and join are each one pass.
        if all(map(_ends_a_record, segments[:-1])):
            self._partial = segments[-1]
            segments[-1] = b""
            return Lines(b"\r\n".join(segments), len(segments) - 1)
        return self._records_with_lf_in_cells(b"\n".join(segments))

    def _records_with_lf_in_cells(self, received: bytes) -> Lines:
        """The records ``received`` completes when some cell holds a LF: only ``}"`` LF ends a record."""
        end = received.rfind(_RECORD_END)
        if end < 0:
            self._partial = received
            return Lines(b"", 0)
        cut = end + len(_RECORD_END)
        self._partial = received[cut:]
        return Lines(received[:cut].replace(_RECORD_END, _CRLF_RECORD_END), received.count(_RECORD_END, 0, cut))

    def finish(self) -> None:
        if self._partial:
            raise RuntimeError(f"COPY ended inside a record ({len(self._partial)} bytes without their end)")


def copy_options(export_format: ExportFormat) -> dict[str, object]:
    """The ``COPY`` options the format's columns are written with."""
    return NDJSON_COPY_OPTIONS if export_format is ExportFormat.NDJSON else CSV_COPY_OPTIONS


def line_reader(export_format: ExportFormat) -> LineReader:
    """A fresh reader of one ``COPY``'s output in that format."""
    return PlainLines() if export_format is ExportFormat.NDJSON else CsvRecords()
