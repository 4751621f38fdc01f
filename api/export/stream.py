"""An account's events matching a search, streamed by one ``COPY`` of the search's own statement.

The rows are selected by the search's statement (``api.audit.search.search_statement``), so an
export holds exactly what ``searchAuditTrailEntries`` pages through, in the same order.  PostgreSQL
writes each line (``api.export.formats``) and ``COPY`` sends them: one statement, one snapshot, no
Python per row.  A bounded queue sits between the ``COPY`` and the response: while the client
reads slowly the queue is full, asyncpg stops reading the socket and PostgreSQL waits; when the
client leaves, the ``COPY`` is cancelled and the query ends.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select

from api.audit.query import Filters, time_before
from api.audit.search import PageRequest, search_statement
from api.db import SERIAL_PLAN, Database, driver_connection
from api.export.copy import ExportChunk, copy_options, line_reader
from api.export.formats import ExportFormat, export_columns
from api.paging import Direction

DEFAULT_BATCH_SIZE = 2000

READ_AHEAD_PIECES = 8
"""How many of asyncpg's pieces of ``COPY`` output wait for the client at most: the memory an
export holds is this many socket reads, whatever its size."""

_COPY_ENDED = None

_Output = bytes | None | Exception
"""What the ``COPY`` task queues: a piece of output, the end marker, or the error that stopped it."""

COPY_TIMEOUT_SECONDS = 7 * 24 * 3600.0
"""asyncpg bounds a ``COPY`` as one statement, the client's reading included: a week, not the
statement timeout of a few seconds.  The database's progress is bounded instead: each piece must
arrive within the statement timeout (``_next_piece``), as each fetch of a cursor had to."""


@dataclass(frozen=True)
class ExportQuery:
    """What to export: the account, the search's filters and order, and where to start."""

    account_id: str
    filters: Filters
    direction: Direction = Direction.DESC
    order_field: str = "createdAt"
    after: str | None = None
    batch_size: int = DEFAULT_BATCH_SIZE
    """The rows one chunk of the response gathers at most from what ``COPY`` has sent."""
    now: datetime | None = None
    """The moment ``timeInLast`` counts back from; fixed once so every batch agrees."""

    def statement(self, export_format: ExportFormat = ExportFormat.NDJSON) -> Select[*tuple[Any, ...]]:
        """The whole export's statement; BAD_USER_INPUT for filters the search would refuse."""
        page = PageRequest(
            first=self.batch_size, after=self.after, order_field=self.order_field, direction=self.direction
        )
        statement = search_statement(self.account_id, self.filters, page, now=self.now or datetime.now(UTC))
        # The search's statement reads one page (and a row); an export reads everything it selects.
        return statement.with_only_columns(*export_columns(export_format)).limit(None)

    def time_range(self) -> tuple[datetime | None, datetime | None]:
        """The createdAt bounds the filters set (None for an open end), to name the export by."""
        start: datetime | None = None
        end: datetime | None = None
        for predicate in self.filters.predicates:
            if predicate.field != "createdAt" or predicate.exclude:
                continue
            in_range, in_last = predicate.constraint.time_in_range, predicate.constraint.time_in_last
            if in_range is not None and in_range.start is not None:
                start = _later(start, in_range.start)
            if in_range is not None and in_range.end is not None:
                moment = in_range.end
                end = moment if end is None else min(end, moment)
            if in_last is not None:
                start = _later(start, time_before(self.now or datetime.now(UTC), in_last))
        return start, end


def _later(current: datetime | None, candidate: datetime) -> datetime:
    return candidate if current is None else max(current, candidate)


def prepared(query: ExportQuery) -> ExportQuery:
    """``query`` with its moment fixed, checked by building its first statement (BAD_USER_INPUT
    surfaces here, before a response has started, not halfway through a stream)."""
    fixed = replace(query, now=query.now or datetime.now(UTC))
    fixed.statement()
    return fixed


async def export_chunks(
    db: Database, query: ExportQuery, export_format: ExportFormat
) -> AsyncGenerator[ExportChunk, None]:
    """The export's lines in the search's order, as ``COPY`` delivers them (header not included).

    Closing the iterator (the client left) cancels the ``COPY``: asyncpg asks PostgreSQL to stop.
    """
    pieces: asyncio.Queue[_Output] = asyncio.Queue(maxsize=READ_AHEAD_PIECES)
    copying = asyncio.create_task(_copy(db, query.statement(export_format), copy_options(export_format), pieces))
    piece_timeout = db.timeouts.statement_seconds
    reader = line_reader(export_format)
    try:
        while True:
            piece = await _next_piece(pieces, piece_timeout)
            data: list[bytes | bytearray] = []
            rows = 0
            # Gather what is already waiting into one chunk: fewer, larger writes to the socket.
            while piece is not _COPY_ENDED:
                chunk = reader.feed(piece)
                data.append(chunk.data)
                rows += chunk.rows
                if rows >= query.batch_size or pieces.empty():
                    break
                piece = _piece_of(pieces.get_nowait())
            if rows:
                yield ExportChunk(bytes(data[0]) if len(data) == 1 else b"".join(data), rows)
            if piece is _COPY_ENDED:
                reader.finish()
                return
    finally:
        copying.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await copying


async def _next_piece(pieces: asyncio.Queue[_Output], timeout_seconds: float) -> bytes | None:
    """The next piece of output (None: the end), the ``COPY``'s own error when it failed, or
    TimeoutError when the database sent nothing for ``timeout_seconds``."""
    if not pieces.empty():
        return _piece_of(pieces.get_nowait())
    try:
        # Only while the queue is empty: a timer per wait, no task, since this runs for every piece.
        async with asyncio.timeout(timeout_seconds):
            return _piece_of(await pieces.get())
    except TimeoutError:
        raise TimeoutError(f"the database sent no export rows for {timeout_seconds:g} s") from None


def _piece_of(output: _Output) -> bytes | None:
    if isinstance(output, Exception):
        raise output
    return output


async def _copy(
    db: Database,
    statement: Select[*tuple[Any, ...]],
    options: dict[str, object],
    pieces: asyncio.Queue[_Output],
) -> None:
    """Run the ``COPY`` into ``pieces`` (waiting while it is full), then the end marker, or the error
    that stopped it: the response's task raises it where it reads the pieces."""
    try:
        async with db.transaction() as session:
            connection = await session.connection()
            # SQLAlchemy begins the driver's transaction at its first statement: the COPY runs inside it.
            # An export reads the account's index in order and streams as it reads.  With the CSV's cells
            # costed in, the planner chose a parallel plan instead: every row scanned, sorted (on disk past
            # ``work_mem``) and merged through the workers' queues before the first line, for twice the CPU.
            await connection.exec_driver_sql(SERIAL_PLAN)
            compiled = statement.compile(dialect=connection.dialect, compile_kwargs={"render_postcompile": True})
            arguments = [compiled.params[name] for name in compiled.positiontup or ()]
            driver = await driver_connection(session)
            await driver.copy_from_query(
                compiled.string, *arguments, output=pieces.put, timeout=COPY_TIMEOUT_SECONDS, **options
            )
    except Exception as error:
        await pieces.put(error)
        return
    await pieces.put(_COPY_ENDED)
