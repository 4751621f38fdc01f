"""The hot reads (the identity check, the search, one entry, the suggestions) on asyncpg directly.

SQLAlchemy's session, its execution context and its ORM rows were about a third of the API's CPU
on a page of 50 entries, and the identity check cost a transaction of its own (BEGIN, SELECT,
COMMIT: three round trips) on every request.  These reads are single statements that need no
transaction, so they run on a connection of a small asyncpg pool of their own, kept in the process
between reads (``_LentConnections``): one round trip each.

The statements are still built by SQLAlchemy (``search_statement`` is the search's one definition,
the export runs it too) and compiled through a compiled cache of their own, so a statement seen
before costs its cache key and its parameters, not a compilation; asyncpg keeps each connection's
prepared statements, so PostgreSQL parses each once per connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, MutableMapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, cast

import asyncpg
import orjson
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.util import LRUCache

BROKEN = (TimeoutError, OSError, asyncpg.InterfaceError, asyncio.CancelledError)
"""What leaves a connection in an unknown state; a statement's own error (``PostgresError``) does not."""
COMPILED_STATEMENTS = 256
"""Distinct statement shapes kept compiled (a search's shape is its set of predicates, not its values)."""
READ_SESSION_SETTINGS = {"plan_cache_mode": "force_generic_plan"}
"""Each prepared statement planned once for any values, from its first execution on.

PostgreSQL's default (``auto``) plans a statement's first five executions for their values (custom
plans) and on the sixth builds the generic plan it compares them with.  Over the 40 daily partitions
planning is most of a page's cost: 4-17 ms for each custom plan and 30-120 ms on the sixth, against
about 1 ms for the page run on its generic plan, which prunes partitions when it starts.  Every
connection of the pool paid that for every statement shape and page size it met.  Statements whose
best plan depends on their values keep the default (``RawReader.fetch(values_decide_plan=True)``).
"""
VALUES_DECIDE_PLAN = "BEGIN READ ONLY; SET LOCAL plan_cache_mode = auto"
"""PostgreSQL's default plan choice for one statement, in one round trip before it; COMMIT after."""


def decode_json(text: str) -> Any:
    """PostgreSQL's JSON text as Python values, the same values SQLAlchemy's ``json.loads`` gives:
    orjson first, the standard parser for what orjson refuses (integers beyond 64 bits).  The pool's
    connections return JSON columns as that text (asyncpg's default): a row decodes them when read."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


async def _keep_session_state(connection: asyncpg.Connection) -> None:
    """Nothing to reset on release: these reads set nothing and take no locks (asyncpg still rolls
    back a transaction left open), so the pool's default reset, a round trip per release, is skipped."""


def usable(connection: asyncpg.Connection) -> bool:
    """Whether ``connection`` is open and still ours: asyncpg's pool takes a connection back by itself
    when the server closes it, after which its every call raises ``InterfaceError``."""
    try:
        return not connection.is_closed()
    except asyncpg.InterfaceError:
        return False


def discard(connection: asyncpg.Connection) -> None:
    """Close ``connection`` without a word to the server (which may be frozen).  asyncpg's pool sees
    its place free at once; a connection the pool took back already is left alone."""
    with contextlib.suppress(asyncpg.InterfaceError):
        connection.terminate()


async def _give_to_pool(pool: asyncpg.Pool, connection: asyncpg.Connection) -> None:
    """``pool.release``, which resets an open connection (rolling back a transaction left open).

    asyncpg checks the connection, then releases it in a task of its own: a server closing the
    connection in between makes the pool take it back first, and that task then fails with
    ``InternalClientError`` on a place already free.  Nothing is left to do then."""
    with contextlib.suppress(asyncpg.InternalClientError):
        await pool.release(connection)


class _LentConnections:
    """The connections one asyncpg pool has lent, kept in this process between reads: given back to
    the pool only when broken, left in a transaction, after an error not the statement's own, or
    when the pool closes.

    asyncpg's ``acquire`` and ``release`` cost a read about 40 µs of CPU in a bare loop (the release
    runs in a task of its own under ``asyncio.shield``, then resets the connection), and more when
    served: in a read bench without them the filtered page was level with PostGraphile at p50 and
    17 % ahead in throughput.  Taking a kept connection is a queue's ``get_nowait``.

    ``slots`` holds ``max_size`` tokens at rest: a kept connection, or None for one not taken from
    the pool (yet, or any more).  A read takes a token, waiting when all are out, and puts one back
    when it ends.  So at most ``max_size`` connections are ever taken from the pool, whose ``acquire``
    then waits only for a connect, and a waiting read is woken by the next put, as asyncio's queue
    wakes its getters (one cancelled while woken passes the token on).  Last in, first out: the
    busiest connections are reused, with the statements they have prepared.
    """

    def __init__(self, pool: asyncpg.Pool, max_size: int) -> None:
        self.pool = pool
        self.slots: asyncio.LifoQueue[asyncpg.Connection | None] = asyncio.LifoQueue()
        for _ in range(max_size):
            self.slots.put_nowait(None)
        self.closing = False

    async def take(self, seconds: float) -> asyncpg.Connection:
        """A connection within ``seconds``, or TimeoutError."""
        try:
            kept = self.slots.get_nowait()
        except asyncio.QueueEmpty:
            return await self._take_when_put(seconds)
        if kept is not None and usable(kept):
            return kept
        async with asyncio.timeout(seconds):
            return await self._from_pool(kept)

    async def _take_when_put(self, seconds: float) -> asyncpg.Connection:
        async with asyncio.timeout(seconds):
            kept = await self.slots.get()
            if kept is not None and usable(kept):
                return kept
            return await self._from_pool(kept)

    async def _from_pool(self, kept: asyncpg.Connection | None) -> asyncpg.Connection:
        """A connection from the pool for the token ``kept``: None, or a connection closed while kept
        (the server restarted), which the pool then replaces.  The token goes back if this fails."""
        if kept is not None:
            discard(kept)
        try:
            connection: asyncpg.Connection = await self.pool.acquire()
        except BaseException:
            self.slots.put_nowait(None)
            raise
        return connection

    async def give_back(self, connection: asyncpg.Connection, *, reusable: bool) -> None:
        """Keep ``connection`` for the next read, or give it back to the pool: closed if broken,
        reset (a transaction left open rolled back) if not."""
        if reusable and not self.closing and usable(connection) and not connection.is_in_transaction():
            self.slots.put_nowait(connection)
            return
        try:
            if usable(connection):
                await _give_to_pool(self.pool, connection)
            else:
                discard(connection)
        finally:
            self.slots.put_nowait(None)

    async def close(self) -> None:
        """Give the kept connections back, then close the pool, which waits for those still in use."""
        self.closing = True
        while not self.slots.empty():
            kept = self.slots.get_nowait()
            if kept is not None:
                await _give_to_pool(self.pool, kept)
        await self.pool.close()


class ReadPool:
    """An asyncpg pool for single-statement reads outside any transaction, opened when the API starts
    (``warm``) or, if the database was away then, on first use.  Its connections stay with this
    process between reads (``_LentConnections``)."""

    def __init__(
        self,
        dsn: str,
        *,
        max_size: int,
        connect_seconds: float,
        acquire_seconds: float,
        statement_seconds: float,
        connection_class: type[asyncpg.Connection],
    ) -> None:
        self._dsn = dsn
        self._max_size = max_size
        self._connect_seconds = connect_seconds
        self._acquire_seconds = acquire_seconds
        self._statement_seconds = statement_seconds
        self._connection_class = connection_class
        self._lent: _LentConnections | None = None
        self._opening = asyncio.Lock()

    async def _opened(self) -> _LentConnections:
        if self._lent is not None:
            return self._lent
        async with self._opening:
            if self._lent is not None:
                return self._lent
            pool = await asyncpg.create_pool(
                self._dsn,
                # One connection kept open: a frozen server then costs a request the statement timeout,
                # not the longer connect timeout of a pool that has to connect first.
                min_size=1,
                max_size=self._max_size,
                timeout=self._connect_seconds,
                command_timeout=self._statement_seconds,
                connection_class=self._connection_class,
                reset=_keep_session_state,
                server_settings=READ_SESSION_SETTINGS,
            )
            self._lent = _LentConnections(pool, self._max_size)
            return self._lent

    async def warm(self) -> None:
        """Open the pool now if the database answers; a database that does not is left to the first read."""
        with contextlib.suppress(*BROKEN, asyncpg.PostgresError):
            await self._opened()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection for the block; TimeoutError when none frees up within the acquire bound."""
        lent = await self._opened()
        connection = await lent.take(self._acquire_seconds)
        reusable = False
        try:
            yield connection
            reusable = True
        except asyncpg.PostgresError:
            reusable = True  # a statement's own error leaves the connection as it was
            raise
        except BROKEN:
            # A statement past its timeout (a frozen server) or cut off: asyncpg would wait, on release,
            # for PostgreSQL to confirm the cancel, which a frozen server never does.  Close it at once.
            discard(connection)
            raise
        finally:
            await lent.give_back(connection, reusable=reusable)

    async def close(self) -> None:
        if self._lent is not None:
            lent, self._lent = self._lent, None
            await lent.close()


class StatementCompiler:
    """SQLAlchemy statements as asyncpg's ``$n`` text and arguments, compiled once per shape.

    This is what SQLAlchemy's own execution does (``_compile_w_cache``, then the expanded state of
    ``IN`` lists and the bind processors), without its execution context around it.  A statement
    built once and run with new parameters every request (``fixed=True``: the identity check's)
    keeps its compilation under its own identity, skipping even the cache key: the same object
    always has the same key and the same literal values.
    """

    def __init__(self, dialect: Dialect) -> None:
        self._dialect = dialect
        self._compiled: LRUCache[Any, Any] = LRUCache(COMPILED_STATEMENTS)
        # Bounded too: besides the module constants, the search keeps a statement per shape (``SearchShapes``).
        self._fixed: LRUCache[int, tuple[ClauseElement, Any, Any, Any]] = LRUCache(COMPILED_STATEMENTS)
        self._expansions: LRUCache[tuple[object, ...], _Expansion] = LRUCache(COMPILED_STATEMENTS)

    def _compile(self, statement: ClauseElement, *, fixed: bool) -> tuple[Any, Any, Any]:
        kept = self._fixed.get(id(statement)) if fixed else None
        if kept is not None:
            return kept[1:]
        compiled, extracted, collected, _ = statement._compile_w_cache(
            self._dialect, compiled_cache=self._compiled, column_keys=[]
        )
        if fixed:  # the entry holds the statement: its id cannot be another's while kept
            self._fixed[id(statement)] = (statement, compiled, extracted, collected)
        return compiled, extracted, collected

    def sql_and_arguments(
        self, statement: ClauseElement, parameters: dict[str, Any] | None = None, *, fixed: bool = False
    ) -> tuple[str, Sequence[Any]]:
        compiled, extracted, collected = self._compile(statement, fixed=fixed)
        assert isinstance(compiled, SQLCompiler)
        values = compiled.construct_params(
            parameters, extracted_parameters=extracted, escape_names=False, _collected_params=collected
        )
        if not (compiled.literal_execute_params or compiled.post_compile_params):
            processors = cast("dict[str, Any]", compiled._bind_processors)
            return compiled.string, _arguments(processors, values, compiled.positiontup)
        expansion = self._expansion(compiled, values) if fixed else None
        if expansion is not None:
            return expansion.sql_and_arguments(values)
        return _expanded_now(compiled, values)

    def _expansion(self, compiled: SQLCompiler, values: MutableMapping[str, Any]) -> _Expansion | None:
        """The expanded SQL of a kept statement for lists of these lengths (and these values written
        into the text), worked out by SQLAlchemy the first time and kept: expanding a page's ``IN``
        lists cost SQLAlchemy 50-100 µs a request, the same text every time for the same lengths.
        None for what ``_Expansion`` cannot map back (see ``_expands_plainly``)."""
        if not _expands_plainly(compiled):
            return None
        names = compiled.bind_names
        written = tuple(values[names[bind]] for bind in compiled.literal_execute_params)
        lists = [values[names[bind]] for bind in compiled.post_compile_params]
        if not all(isinstance(value, int | str) for value in written) or not all(
            isinstance(value, list | tuple) for value in lists
        ):
            return None  # SQLAlchemy's own expansion says what it makes of these
        key = (id(compiled), tuple(map(len, lists)), written)
        kept = self._expansions.get(key)
        if kept is None:
            expanded = compiled._process_parameters_for_postcompile(dict(values))
            element_of = {
                element: (name, index)
                for name, elements in expanded.parameter_expansion.items()
                for index, element in enumerate(elements)
            }
            order = tuple((name, *element_of.get(name, (name, None))) for name in expanded.positiontup or ())
            processors = {**compiled._bind_processors, **expanded.processors}
            kept = self._expansions[key] = _Expansion(compiled, expanded.statement, order, processors)
        return kept


@dataclass(frozen=True)
class _Expansion:
    """A kept statement's SQL with its lists expanded for one set of lengths, and where each ``$n``
    takes its value from: ``(name, source, index)``, ``index`` the element of list ``source`` or None
    for the value of ``source`` itself."""

    compiled: SQLCompiler
    """Held so that its id, in the key, is never another statement's while this is kept."""
    sql: str
    order: tuple[tuple[str, str, int | None], ...]
    processors: dict[str, Any]

    def sql_and_arguments(self, values: MutableMapping[str, Any]) -> tuple[str, list[Any]]:
        processors = self.processors
        arguments = []
        for name, source, index in self.order:
            value = values[source] if index is None else values[source][index]
            arguments.append(processors[name](value) if name in processors else value)
        return self.sql, arguments


def _expands_plainly(compiled: SQLCompiler) -> bool:
    """Whether each list expands into one parameter per element (no tuple ``IN``) under its own name
    (none escaped): what ``_Expansion`` maps back to its list."""
    return not compiled.escaped_bind_names and not any(
        bind.type._is_tuple_type for bind in compiled.post_compile_params
    )


def _expanded_now(compiled: SQLCompiler, values: MutableMapping[str, Any]) -> tuple[str, list[Any]]:
    expanded = compiled._process_parameters_for_postcompile(values)  # adds the elements' names to values
    processors: dict[str, Any] = {**compiled._bind_processors, **expanded.processors}
    return expanded.statement, _arguments(processors, values, expanded.positiontup)


def _arguments(processors: dict[str, Any], values: MutableMapping[str, Any], order: Sequence[str] | None) -> list[Any]:
    """The values in ``order``, each through its bind processor if it has one (as SQLAlchemy's execution does)."""
    return [processors[name](values[name]) if name in processors else values[name] for name in order or ()]


@dataclass(frozen=True)
class RawReader:
    """One pooled connection and the compiler: what a request's hot reads run on."""

    connection: asyncpg.Connection
    statements: StatementCompiler

    async def fetch(
        self,
        statement: ClauseElement,
        parameters: dict[str, Any] | None = None,
        *,
        fixed: bool = False,
        values_decide_plan: bool = False,
    ) -> list[asyncpg.Record]:
        """The rows of ``statement``: one round trip, a statement asyncpg prepared on this connection before.

        ``fixed``: a module's constant statement, compiled once for good (see ``StatementCompiler``).
        ``values_decide_plan``: a statement whose best plan depends on its values (a ``LIKE '%word%'``
        the planner must see to choose the trigram index, an aggregate over a span it must see to
        choose its scans) gets PostgreSQL's default choice instead of ``READ_SESSION_SETTINGS``' generic
        plan: a full-text page took 350 ms on the generic plan and 15 ms on custom ones (1,000,000
        events).  It costs two round trips more, in a read-only transaction whose setting ends with it.
        """
        sql, arguments = self.statements.sql_and_arguments(statement, parameters, fixed=fixed)
        if not values_decide_plan:
            rows: list[asyncpg.Record] = await self.connection.fetch(sql, *arguments)
            return rows
        await self.connection.execute(VALUES_DECIDE_PLAN)
        try:
            rows = await self.connection.fetch(sql, *arguments)
        except asyncpg.PostgresError:
            await self.connection.execute("ROLLBACK")
            raise
        await self.connection.execute("COMMIT")
        return rows
