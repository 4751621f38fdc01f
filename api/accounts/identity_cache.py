"""Verified identities kept between requests, for as long as PostgreSQL tells this process of every
change to what they hold.

Checking a token's key, account and logout in the database cost every request a round trip.  The
rows change rarely, and migration 0012's triggers notify channel ``identities_changed`` whenever
they do, from whichever process or tool.  So an identity loaded once is kept (by its token's
claims, at most ``capacity``, least recently used first out) and every notification forgets them
all.  Three rules keep a revocation effective at once:

- An identity is kept only if nothing was heard and the LISTEN connection did not drop between
  the start of its load and its store (``_generation`` counts both), so a change that commits
  while a request reads the old row cannot leave the old row behind.
- While this process does not listen (not yet, or its connection dropped) nothing is kept or
  served: every request checks the database, and a drop forgets everything kept.
- A request that changes an identity here forgets them all itself once it commits, before it
  answers (``IDENTITY_ACTIONS``): its own notification arrives a moment later.

A LISTEN connection cut without a FIN or RST (a network partition, a frozen server) would look
alive to asyncpg until the kernel gives up on it, minutes later, while changes went unheard.  So
the connection must answer ``SELECT 1`` every ``heartbeat_seconds`` within ``heartbeat_timeout_seconds``,
or it is dropped as if lost: a silent cut is noticed within their sum (7 s by default).

A token's expiry needs none of this: its claims are checked on every request before the lookup.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any

import asyncpg
import structlog

from api.accounts.identity import Identity
from api.accounts.tokens import TokenClaims
from api.pg_listen import LISTEN_FAILURES, close_listener, open_listener

log = structlog.get_logger(__name__)

CHANNEL = "identities_changed"
LISTENER_NAME = "audittrail identity cache"
"""How the cache's LISTEN connection is named in ``pg_stat_activity``."""
CAPACITY = 4096
"""Identities kept per process: one per token in use, so a few thousand cover every active client."""
FIRST_RETRY_SECONDS = 0.05
LAST_RETRY_SECONDS = 5.0
"""A database that refuses to listen is asked again after a pause doubling up to this."""
HEARTBEAT_SECONDS = 5.0
HEARTBEAT_TIMEOUT_SECONDS = 2.0
"""How often the LISTEN connection must answer a query, and how soon, to be trusted still."""
IDENTITY_ACTIONS = frozenset({"api_key.delete", "account.logout", "account.set_retention"})
"""The audited mutations that change what an identity holds (a revoked key, a logged-out token,
an account's retention): the request forgets this process's identities before it answers."""

Load = Callable[[TokenClaims], Awaitable[Identity]]
"""The database check of a token (``identity_on`` for a query, ``identity_from_token`` in a mutation's
transaction): the identity, or UNAUTHENTICATED."""


class IdentityCache:
    """One per process.  It starts listening at the first lookup (a process serving no request holds
    no connection for it) and again at the first lookup after a drop; requests never wait for it."""

    def __init__(
        self,
        database_url: str,
        *,
        capacity: int = CAPACITY,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
        heartbeat_timeout_seconds: float = HEARTBEAT_TIMEOUT_SECONDS,
    ) -> None:
        self._database_url = database_url
        self._capacity = capacity
        self._heartbeat_seconds = heartbeat_seconds
        self._heartbeat_timeout_seconds = heartbeat_timeout_seconds
        self._heartbeat: asyncio.Task[None] | None = None
        self._identities: OrderedDict[TokenClaims, Identity] = OrderedDict()
        self._generation = 0
        """Counts what can make a load stale: each notification heard, each drop, each start."""
        self._connection: asyncpg.Connection | None = None
        self._starting: asyncio.Task[None] | None = None
        self._failed_starts = 0
        self._next_start = 0.0

    def __len__(self) -> int:
        """How many identities are kept now."""
        return len(self._identities)

    @property
    def is_listening(self) -> bool:
        """Whether identities are kept and served: only while the LISTEN connection is up."""
        return self._connection is not None

    async def lookup(self, claims: TokenClaims, load: Load) -> Identity:
        """The identity of verified ``claims``: kept from an earlier request, or ``load``-ed (and kept
        if nothing changed meanwhile).  A refusal raised by ``load`` is never kept."""
        if self._connection is None:
            self._start_listening()
            return await load(claims)
        kept = self._identities.get(claims)
        if kept is not None:
            self._identities.move_to_end(claims)
            return kept
        generation = self._generation
        identity = await load(claims)
        if generation == self._generation:  # nothing heard, no drop: what was read is still true
            self._identities[claims] = identity
            if len(self._identities) > self._capacity:
                self._identities.popitem(last=False)
        return identity

    def forget_all(self) -> None:
        """Forget every identity kept, and make every load under way unfit to keep."""
        self._generation += 1
        self._identities.clear()

    async def close(self) -> None:
        """Stop listening (the process is stopping)."""
        for task in (self._starting, self._heartbeat):
            if task is not None:
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task
        connection, self._connection = self._connection, None
        self.forget_all()
        if connection is not None:
            await close_listener(connection, self._on_connection_lost)

    def _start_listening(self) -> None:
        if self._starting is None and time.monotonic() >= self._next_start:
            self._starting = asyncio.create_task(self._listen(), name="identity cache listen")

    async def _listen(self) -> None:
        try:
            connection = await open_listener(
                self._database_url, CHANNEL, self._on_notification, self._on_connection_lost, name=LISTENER_NAME
            )
        except LISTEN_FAILURES as error:
            # Requests go on checking the database; the next one after the pause tries again.
            pause = min(FIRST_RETRY_SECONDS * 2**self._failed_starts, LAST_RETRY_SECONDS)
            self._failed_starts += 1
            self._next_start = time.monotonic() + pause
            log.warning("identity cache could not listen", error=type(error).__name__, retry_seconds=pause)
        else:
            self._failed_starts = 0
            self.forget_all()
            self._connection = connection
            self._heartbeat = asyncio.create_task(self._beat(connection), name="identity cache heartbeat")
        finally:
            self._starting = None

    def _is_current(self, connection: asyncpg.Connection) -> bool:
        return connection is self._connection

    async def _beat(self, connection: asyncpg.Connection) -> None:
        """Drop ``connection`` as lost once it fails to answer a query in time (see the module's doc)."""
        while True:
            await asyncio.sleep(self._heartbeat_seconds)
            if not self._is_current(connection):
                return  # dropped or replaced meanwhile
            try:
                await connection.fetchval("SELECT 1", timeout=self._heartbeat_timeout_seconds)
            except (*LISTEN_FAILURES, asyncpg.InterfaceError) as error:
                if self._is_current(connection):
                    log.warning(
                        "identity cache's LISTEN connection did not answer; dropped", error=type(error).__name__
                    )
                    self._on_connection_lost(connection)
                    connection.terminate()
                return

    def _on_notification(self, connection: Any, pid: int, channel: str, payload: str) -> None:
        self.forget_all()

    def _on_connection_lost(self, connection: Any) -> None:
        if connection is not self._connection:
            return  # one we had already let go
        log.warning("identity cache lost its LISTEN connection; checking every request until it listens again")
        self._connection = None
        self.forget_all()
