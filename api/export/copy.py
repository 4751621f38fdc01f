"""``COPY (<the export's select>) TO STDOUT`` read through a bounded queue, and its bytes unwrapped.

Each exported row is one text column (``api.export.formats``).  ``COPY`` in CSV mode with
``QUOTE E'\\x02'`` passes a value on verbatim, then a newline, except for one reversible wrapping:
a value holding a newline, CR, ``\\x01`` or ``\\x02`` is framed in ``\\x02`` and a ``\\x02`` inside it is
doubled.  No other ``COPY`` mode is lossless (text mode escapes every backslash of the JSON).

- A CSV line holds its own CRLF, so every row is framed: ``CopyUnwrapper`` removes exactly that,
  whatever bytes the values hold.
- A stored body is JSON as the service wrote it, which escapes every control character: no row is
  ever framed, and ``PlainLines`` passes ``COPY``'s bytes on untouched (the body, a newline: the
  NDJSON line), refusing to go on should a ``\\x02`` ever show a framed row.
"""

from __future__ import annotations

from dataclasses import dataclass

COPY_OPTIONS = {"format": "csv", "delimiter": "\x01", "quote": "\x02"}
"""asyncpg's ``copy_from_query`` options; the delimiter never matters (one column)."""

_QUOTE = b"\x02"
_ROW_END = b"\n\x02\n"
"""A line's own newline, the closing quote, COPY's newline.  Inside a value every run of ``\\x02``
is doubled, and no line starts with a newline (a body starts with ``{``, a CSV line with the id),
so a lone one between two newlines is always a row's end."""
_BETWEEN_ROWS = _ROW_END + _QUOTE


@dataclass(frozen=True)
class ExportChunk:
    """Whole exported lines and how many they are (the log and the CLI's progress count rows)."""

    data: bytes
    rows: int


class PlainLines:
    """``COPY``'s output of the bodies, passed on as it comes: it already is NDJSON."""

    def feed(self, piece: bytes) -> ExportChunk:
        if _QUOTE in piece:
            raise RuntimeError("a stored body holds a control character: it is not JSON the service wrote")
        return ExportChunk(piece, piece.count(b"\n"))

    def finish(self) -> None:
        """Nothing is held back between pieces."""


class CopyUnwrapper:
    """``COPY``'s output, fed in pieces cut anywhere, as whole lines with the framing removed."""

    def __init__(self) -> None:
        self._partial = b""

    def feed(self, piece: bytes) -> ExportChunk:
        """The rows ``piece`` completes (none while a row is still arriving)."""
        received = self._partial + piece if self._partial else piece
        end = received.rfind(_ROW_END)
        if end < 0:
            self._partial = received
            return ExportChunk(b"", 0)
        complete, self._partial = received[: end + len(_ROW_END)], received[end + len(_ROW_END) :]
        lines = complete[1 : -len(_ROW_END) + 1].replace(_BETWEEN_ROWS, b"\n")
        if _QUOTE in lines:
            lines = lines.replace(_QUOTE + _QUOTE, _QUOTE)
        return ExportChunk(lines, complete.count(_ROW_END))

    def finish(self) -> None:
        """Called once ``COPY`` has ended: a partial row left over means its output was cut short."""
        if self._partial:
            raise RuntimeError(f"COPY ended inside a row ({len(self._partial)} bytes without their end)")
