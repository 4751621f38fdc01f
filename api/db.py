"""The database engine, sessions and the one transaction helper every unit of work goes through."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from api.observability.tracing import span
from api.raw_reads import RawReader, ReadPool, StatementCompiler


def async_url(database_url: str) -> str:
    """SQLAlchemy URL for asyncpg from the plain ``postgresql://`` form operators set."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if database_url.startswith(prefix):
            return "postgresql+asyncpg://" + database_url[len(prefix) :]
    raise ValueError(f"DATABASE_URL must start with postgresql://, got {database_url.split(':', 1)[0]}://…")


def raw_url(database_url: str) -> str:
    """Plain libpq URL (for asyncpg.connect and psql) from any accepted form."""
    return "postgresql://" + async_url(database_url)[len("postgresql+asyncpg://") :]


SERIAL_PLAN = "SET LOCAL max_parallel_workers_per_gather = 0"
"""For the rest of a transaction, no parallel plans: a statement streamed while the client works on
its rows (an export's ``COPY``, a digest's leaves) gets one PostgreSQL process beside the client's,
where a parallel plan put three on the two cores for more CPU and no sooner an end."""


async def driver_connection(session: AsyncSession) -> asyncpg.Connection:
    """The session's own asyncpg connection, in the session's transaction: for the statements over a
    whole interval or export (a ``COPY``, a cursor, a value of tens of MB) that need asyncpg's own
    calls or a timeout of their own."""
    connection = await session.connection()
    driver = (await connection.get_raw_connection()).driver_connection
    assert isinstance(driver, asyncpg.Connection)
    return driver


@dataclass(frozen=True, kw_only=True)
class DatabaseTimeouts:
    """How long one database call may take before it fails (SERVICE_UNAVAILABLE to a client).

    A frozen or unreachable PostgreSQL must not hang requests: connecting, waiting for a pooled
    connection and each statement are bounded (the statement by the client, so it holds even when
    the server cannot answer at all).
    """

    connect_seconds: float = 5.0
    acquire_seconds: float = 30.0
    """Waiting for a pooled connection is queueing under load, not a dead server: long, as SQLAlchemy's."""
    statement_seconds: float = 4.0
    """The API's statements take milliseconds; 4 s plus the close below answers a client within 5 s."""


CLOSE_SECONDS = 0.5
"""How long closing a broken connection waits for the server's goodbye.

SQLAlchemy closes a connection it discards (after a timeout, say) gracefully, waiting up to 2 s for
the server: a frozen server never answers, so every failed request paid 2 s more.  The goodbye is
one message on a connection we are abandoning anyway, so half a second is plenty.
"""


class _PromptlyClosedConnection(asyncpg.Connection):  # type: ignore[misc]  # asyncpg ships no stubs
    """asyncpg's connection, closing within ``CLOSE_SECONDS`` whatever timeout the caller asks for."""

    async def close(self, *, timeout: float | None = None) -> None:  # noqa: ASYNC109  # asyncpg's signature
        await super().close(timeout=CLOSE_SECONDS if timeout is None else min(timeout, CLOSE_SECONDS))


class Database:
    """Owns the engine; hands out sessions inside transactions.

    No ``pool_pre_ping``: it costs every transaction a round trip (0.2 ms of a 1.5 ms request).
    After a PostgreSQL restart the first statement on a stale connection fails, is answered
    SERVICE_UNAVAILABLE (nothing was written), and SQLAlchemy then discards every connection
    older than the failure, so the next requests run on new ones (tests/reliability prove it).
    """

    def __init__(self, database_url: str, *, pool_size: int = 10, timeouts: DatabaseTimeouts | None = None) -> None:
        self.timeouts = timeouts = timeouts or DatabaseTimeouts()
        self.engine: AsyncEngine = create_async_engine(
            async_url(database_url),
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=False,
            pool_recycle=1800,
            pool_timeout=timeouts.acquire_seconds,
            connect_args={
                "timeout": timeouts.connect_seconds,
                "command_timeout": timeouts.statement_seconds,
                "connection_class": _PromptlyClosedConnection,
            },
        )
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self.reads = ReadPool(
            raw_url(database_url),
            max_size=pool_size,
            connect_seconds=timeouts.connect_seconds,
            acquire_seconds=timeouts.acquire_seconds,
            statement_seconds=timeouts.statement_seconds,
            connection_class=_PromptlyClosedConnection,
        )
        """The hot single-statement reads, on asyncpg without SQLAlchemy's session (``api/raw_reads.py``)."""
        self.statements = StatementCompiler(self.engine.dialect)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One unit of work: commits when the block ends, rolls back when it raises."""
        async with span("db.transaction", is_leaf=True), self._sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def statement(self) -> AsyncIterator[AsyncConnection]:
        """A pooled connection in autocommit, for a unit of work that is one statement: PostgreSQL runs
        it as its own transaction, in one round trip where ``transaction`` takes three (BEGIN, the
        statement, COMMIT).  Through SQLAlchemy all the same, so a lost connection is handled as anywhere."""
        async with span("db.statement", is_leaf=True), self.engine.connect() as connection:
            yield await connection.execution_options(isolation_level="AUTOCOMMIT")

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[RawReader]:
        """A pooled asyncpg connection for single-statement reads, outside any transaction."""
        async with self.reads.connection() as connection:
            yield RawReader(connection, self.statements)

    async def dispose(self) -> None:
        await self.reads.close()
        await self.engine.dispose()
