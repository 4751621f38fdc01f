"""The hot reads' pool (``ReadPool`` in api/raw_reads.py) keeps the connections it takes between reads:
never more than its size, a waiting read bounded and woken, and no broken or half-used connection
kept.  Against the embedded PostgreSQL, a backend's pid telling one connection from another."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import asyncpg
import pytest

from api.db import raw_url
from api.raw_reads import ReadPool, usable
from api.settings import Settings
from tests.support.frozen_link import frozen_link

PID = "SELECT pg_backend_pid()"
MakePool = Callable[..., ReadPool]


@pytest.fixture
async def pools(settings: Settings) -> AsyncIterator[list[ReadPool]]:
    """The pools a test opened (``opened``), closed when it ends, whatever it left."""
    opened: list[ReadPool] = []
    yield opened
    for pool in opened:
        await asyncio.wait_for(pool.close(), 10)


@pytest.fixture
def make_pool(settings: Settings, pools: list[ReadPool]) -> MakePool:
    def make(
        max_size: int, acquire_seconds: float = 5.0, *, dsn: str | None = None, statement_seconds: float = 10.0
    ) -> ReadPool:
        pool = ReadPool(
            dsn or raw_url(settings.database_url or ""),
            max_size=max_size,
            connect_seconds=5.0,
            acquire_seconds=acquire_seconds,
            statement_seconds=statement_seconds,
            connection_class=asyncpg.Connection,
        )
        pools.append(pool)
        return pool

    return make


async def pid_of(pool: ReadPool) -> int:
    async with pool.connection() as connection:
        pid: int = await connection.fetchval(PID)
        return pid


async def until(condition: Callable[[], bool], tasks: list[asyncio.Task[None]] | None = None) -> None:
    """Wait for ``condition``, failing within 5 s, or at once with the error of a task that ended."""
    async with asyncio.timeout(5):
        while not condition():
            for task in tasks or ():
                if task.done():
                    task.result()  # raises what it raised
            await asyncio.sleep(0.01)


async def live(settings: Settings, pids: set[int]) -> set[int]:
    """Which of ``pids`` PostgreSQL still has a backend for (asked on a connection of its own)."""
    connection = await asyncpg.connect(raw_url(settings.database_url or ""))
    try:
        rows = await connection.fetch("SELECT pid FROM pg_stat_activity WHERE pid = ANY($1::int[])", list(pids))
        return {row["pid"] for row in rows}
    finally:
        await connection.close()


async def test_reads_reuse_their_connections_and_never_take_more_than_the_size(make_pool: MakePool) -> None:
    pool = make_pool(2)
    seen: list[int] = []

    async def read() -> None:
        async with pool.connection() as connection:
            seen.append(await connection.fetchval(PID))
            await asyncio.sleep(0.01)  # held a moment: the other readers queue

    await asyncio.gather(*(read() for _ in range(24)))
    assert len(seen) == 24 and len(set(seen)) <= 2
    # One read at a time: the last connection given back is the one taken, with its prepared statements.
    following = [await pid_of(pool) for _ in range(5)]
    assert len(set(following)) == 1 and following[0] in seen


async def test_a_connection_stays_with_the_process_between_reads(make_pool: MakePool) -> None:
    """Not given back to asyncpg's pool, whose acquire and release cost a read about 40 µs: the next
    read gets the same connection object, which asyncpg would have detached on release."""
    pool = make_pool(2)
    async with pool.connection() as connection:
        await connection.fetchval(PID)
    assert usable(connection)
    async with pool.connection() as again:
        assert again is connection


async def test_a_read_waits_at_most_the_acquire_bound_and_no_slot_is_lost(make_pool: MakePool) -> None:
    pool = make_pool(1, acquire_seconds=1.0)  # room for a loaded machine to wake the waiter
    first = await pid_of(pool)
    holding, done = asyncio.Event(), asyncio.Event()

    async def hold() -> None:
        async with pool.connection():
            holding.set()
            await done.wait()

    holder = asyncio.create_task(hold())
    await holding.wait()
    with pytest.raises(TimeoutError):
        await pid_of(pool)
    waiting = asyncio.create_task(pid_of(pool))  # cancelled while it waits: it takes nothing with it
    await asyncio.sleep(0.05)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    woken = asyncio.create_task(pid_of(pool))  # woken by the connection given back, not timed out
    await asyncio.sleep(0.05)
    done.set()
    await holder
    assert await woken == first
    assert await pid_of(pool) == first


async def test_every_slot_is_usable_after_timeouts_and_cancels(make_pool: MakePool) -> None:
    pool = make_pool(3, acquire_seconds=1.0)
    release = asyncio.Event()
    inside = 0

    async def hold() -> None:
        nonlocal inside
        async with pool.connection() as connection:
            await connection.fetchval(PID)
            inside += 1
            await release.wait()

    holders = [asyncio.create_task(hold()) for _ in range(3)]
    await until(lambda: inside == 3, holders)
    late = await asyncio.gather(*(pid_of(pool) for _ in range(4)), return_exceptions=True)
    assert all(isinstance(result, TimeoutError) for result in late), late
    release.set()
    await asyncio.gather(*holders)
    inside, release = 0, asyncio.Event()
    again = [asyncio.create_task(hold()) for _ in range(3)]  # all three at once: none was lost
    await until(lambda: inside == 3, again)
    release.set()
    await asyncio.gather(*again)


async def test_a_frozen_server_fails_the_read_in_time_and_its_connection_is_not_kept(
    make_pool: MakePool, settings: Settings
) -> None:
    async with frozen_link(settings.database_url or "") as link:
        pool = make_pool(2, acquire_seconds=1.0, dsn=link.dsn, statement_seconds=0.5)
        first = await pid_of(pool)
        link.freeze()
        async with asyncio.timeout(5):  # the statement's bound, not the server, ends the read
            with pytest.raises(TimeoutError):
                await pid_of(pool)
            # Connecting anew while frozen: the acquire bound ends the wait, and the slot it held is
            # given back: both slots are usable once the server is back.
            with pytest.raises(TimeoutError):
                await pid_of(pool)
        link.thaw()
        entered, release = asyncio.Event(), asyncio.Event()
        seen: list[int] = []

        async def hold() -> None:
            async with pool.connection() as connection:
                seen.append(await connection.fetchval(PID))
                if len(seen) == 2:
                    entered.set()
                await release.wait()

        holders = [asyncio.create_task(hold()) for _ in range(2)]
        async with asyncio.timeout(5):
            await entered.wait()
        release.set()
        await asyncio.gather(*holders)
        assert first not in seen  # the frozen read's connection was closed, not kept


async def test_a_statements_own_error_keeps_the_connection(make_pool: MakePool) -> None:
    pool = make_pool(2)
    first = await pid_of(pool)
    with pytest.raises(asyncpg.DivisionByZeroError):
        async with pool.connection() as connection:
            await connection.fetchval("SELECT 1 / 0")
    assert await pid_of(pool) == first


async def test_a_transaction_left_open_is_rolled_back_and_the_connection_not_kept_in_it(make_pool: MakePool) -> None:
    pool = make_pool(1)
    async with pool.connection() as connection:
        await connection.execute("BEGIN; CREATE TEMPORARY TABLE left_open (n int)")
    async with pool.connection() as connection:
        assert not connection.is_in_transaction()
        assert await connection.fetchval("SELECT to_regclass('pg_temp.left_open')") is None
        assert await connection.fetchval("SELECT 1") == 1


async def test_a_connection_cut_off_mid_read_is_closed_not_kept(make_pool: MakePool) -> None:
    pool = make_pool(1)
    cut_off: list[asyncpg.Connection] = []

    async def sleep_on_the_server() -> None:
        async with pool.connection() as connection:
            cut_off.append(connection)
            await connection.fetchval("SELECT pg_sleep(5)")

    first = await pid_of(pool)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.2):  # as a request's statement past its timeout
            await sleep_on_the_server()
    second = await pid_of(pool)
    assert second != first
    cancelled = asyncio.create_task(sleep_on_the_server())
    await asyncio.sleep(0.2)
    cancelled.cancel()  # a client gone mid-read
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert await pid_of(pool) not in (first, second)
    # Given back to asyncpg's pool (closed at once, not waiting for a frozen server's confirmation).
    assert len(cut_off) == 2
    for connection in cut_off:
        with pytest.raises(asyncpg.InterfaceError, match="released back to the pool"):
            connection.is_closed()


async def test_a_kept_connection_the_server_closed_is_replaced(make_pool: MakePool, settings: Settings) -> None:
    pool = make_pool(1)
    async with pool.connection() as connection:
        first = await connection.fetchval(PID)
        kept = connection
    admin = await asyncpg.connect(raw_url(settings.database_url or ""))
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", first)
    finally:
        await admin.close()
    for _ in range(100):
        if not usable(kept):
            break
        await asyncio.sleep(0.02)
    assert not usable(kept)
    assert await pid_of(pool) != first


async def test_close_gives_back_the_kept_connections_and_waits_for_those_in_use(
    make_pool: MakePool, settings: Settings
) -> None:
    pool = make_pool(3)
    idle, in_use = asyncio.Event(), asyncio.Event()
    pids: set[int] = set()

    async def hold(until: asyncio.Event) -> None:
        async with pool.connection() as connection:
            pids.add(await connection.fetchval(PID))
            await until.wait()

    holders = [asyncio.create_task(hold(idle)) for _ in range(2)]
    holders.append(asyncio.create_task(hold(in_use)))
    await until(lambda: len(pids) == 3, holders)
    idle.set()  # two given back and kept, one still reading
    await asyncio.gather(*holders[:2])
    closing = asyncio.create_task(pool.close())
    await asyncio.sleep(0.2)
    assert not closing.done()  # a read in progress is not cut off
    in_use.set()
    await asyncio.wait_for(asyncio.gather(holders[2], closing), 10)
    for _ in range(100):
        if not await live(settings, pids):
            break
        await asyncio.sleep(0.05)
    assert not await live(settings, pids)
    assert await pid_of(pool) not in pids  # used again: opened anew
