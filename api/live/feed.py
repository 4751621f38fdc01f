"""The per-process fan-out: one LISTEN connection, subscribers by account, one read per wake-up.

Writers never wait for subscribers: the trigger's NOTIFY is queued by PostgreSQL and delivered
after commit; here one task takes every notification that arrived since its last round, reads
the notified rows of each account once (with every subscriber's filter as a column) and puts
each event in the buffers of the subscribers it matches.

A dropped LISTEN connection is listened again at once (retried for ``reconnect_seconds``); the
subscribers carry on, and the events committed while nobody listened are read back by recording
time and sent before any later one (``api/live/catch_up.py``).
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import structlog

from api.accounts.identity import identity_from_token
from api.accounts.tokens import TokenClaims
from api.audit.query import Filters, filter_condition
from api.db import Database
from api.errors import AppError, ServiceUnavailable, Unauthenticated
from api.live.catch_up import Delivered, Gap
from api.live.matching import Matched, match_events, match_recorded_since
from api.live.notifications import CHANNEL, parse_added
from api.live.subscriber import Audience, Subscriber
from api.models import AuditEvent
from api.observability import count_live_subscribers
from api.observability.metrics import LiveCloseReason
from api.pg_listen import LISTEN_FAILURES, close_listener, open_listener

log = structlog.get_logger(__name__)

# Events that can end a subscriber's right to read: its key revoked, its token logged out.
ACCESS_ACTIONS = frozenset({"api_key.delete", "account.logout"})
LISTENER_NAME = "audittrail live tail"
"""How the feed's LISTEN connection is named in ``pg_stat_activity``."""
LOST_CONNECTION = (
    "live tail closed: the service lost its database notifications, so events may have been missed;"
    " resubscribe, and search from the last entry received to catch up"
)


@dataclass(frozen=True, kw_only=True)
class LiveLimits:
    buffer_events: int = 1000
    """Events one subscriber may have waiting; past it the subscriber is closed."""
    pending_notifications: int = 10_000
    """Notifications waiting for the fan-out; past it (the database outruns us) every subscriber is closed."""
    reconnect_seconds: float = 30.0
    """How long a dropped LISTEN connection is retried before its subscribers are closed."""
    catch_up_margin_seconds: float = 60.0
    """How long before the last fan-out round a catch-up reads from (by recording time): a transaction
    open longer than this whose commit fell while nobody listened is not caught up."""


class LiveFeed:
    """Listens lazily: the first subscriber opens the LISTEN connection, so a process that serves
    no live tail holds none."""

    def __init__(self, db: Database, database_url: str, limits: LiveLimits) -> None:
        self._db = db
        self._database_url = database_url
        self._limits = limits
        self._subscribers: dict[str, set[Subscriber]] = defaultdict(set)
        self._pending: dict[str, list[str]] = defaultdict(list)
        self._pending_count = 0
        self._wake = asyncio.Event()
        self._connection: asyncpg.Connection | None = None
        self._fan_out: asyncio.Task[None] | None = None
        self._reconnecting: asyncio.Task[None] | None = None
        self._starting = asyncio.Lock()
        self._delivered = Delivered()
        self._last_round = time.time()
        self._gap: Gap | None = None
        """Events possibly missed while no connection listened (set on a drop)."""
        self._catch_up: Gap | None = None
        """A gap to read back, once listening again: the fan-out's next round does it first."""

    @property
    def subscriber_count(self) -> int:
        return sum(len(subscribers) for subscribers in self._subscribers.values())

    async def subscribe(self, account_id: str, claims: TokenClaims, filters: Filters) -> Subscriber:
        """A subscriber of ``account_id``'s events matching ``filters``, from this moment on.

        The filters are checked first (BAD_USER_INPUT, as the search answers them); the subscriber
        is registered only once LISTEN is active, so nothing committed after this returns is missed.
        """
        filter_condition(filters, now=datetime.now(UTC))
        await self._listen()
        subscriber = Subscriber(
            Audience(account_id=account_id, claims=claims), filters, buffer_size=self._limits.buffer_events
        )
        self._subscribers[account_id].add(subscriber)
        count_live_subscribers(+1)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        subscribers = self._subscribers.get(subscriber.audience.account_id)
        if subscribers is not None and subscriber in subscribers:
            subscribers.discard(subscriber)
            count_live_subscribers(-1)
            if not subscribers:
                del self._subscribers[subscriber.audience.account_id]

    async def close(self) -> None:
        """Stop listening and end every subscription (the process is stopping)."""
        self._close_all(ServiceUnavailable("live tail closed: the service is stopping; resubscribe"), "stopping")
        for task in (self._reconnecting, self._fan_out):
            if task is not None:
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task
        self._fan_out = self._reconnecting = None
        await self._disconnect()

    async def _listen(self) -> None:
        async with self._starting:
            if self._connection is not None and not self._connection.is_closed():
                return
            try:
                connection = await open_listener(
                    self._database_url, CHANNEL, self._on_notification, self._on_connection_lost, name=LISTENER_NAME
                )
            except LISTEN_FAILURES as error:
                log.warning("live tail could not listen", error=type(error).__name__)
                raise ServiceUnavailable(
                    "live tail is unavailable: the database cannot be reached; retry shortly"
                ) from None
            self._connection = connection
            if self._gap is not None:
                # Listening again: what committed in between is read back before anything heard now.
                self._catch_up, self._gap = self._gap.merged(self._catch_up), None
                self._wake.set()
            if self._fan_out is None or self._fan_out.done():
                self._fan_out = asyncio.create_task(self._run_fan_out(), name="live tail fan-out")

    async def _disconnect(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            await close_listener(connection, self._on_connection_lost)

    def _on_notification(self, connection: Any, pid: int, channel: str, payload: str) -> None:
        added = parse_added(payload)
        if added is None or added.account_id not in self._subscribers:
            return  # nobody here tails that account: not even a read
        if self._pending_count >= self._limits.pending_notifications:
            log.warning("live tail fell behind the database", pending=self._pending_count)
            self._pending.clear()
            self._pending_count = 0
            self._close_all(
                ServiceUnavailable(
                    "live tail closed: events arrive faster than this server can read them; resubscribe, and"
                    " search from the last entry received to catch up"
                ),
                "feed",
            )
            return
        self._pending[added.account_id].extend(added.event_ids)
        self._pending_count += 1
        self._wake.set()

    def _on_connection_lost(self, connection: Any) -> None:
        if connection is not self._connection:
            return  # one we had already let go
        log.warning("live tail lost its LISTEN connection; listening again")
        self._connection = None
        owed = {subscriber for subscribers in self._subscribers.values() for subscriber in subscribers}
        if not owed:
            return  # nobody to catch up: the next subscription listens again
        # The last round heard everything committed before it; transactions open then may commit later.
        since = datetime.fromtimestamp(self._last_round - self._limits.catch_up_margin_seconds, UTC)
        self._gap = Gap(since=since, owed=owed).merged(self._gap)
        if self._reconnecting is None or self._reconnecting.done():
            self._reconnecting = asyncio.create_task(self._reconnect(), name="live tail reconnect")

    async def _reconnect(self) -> None:
        """Listen again, retrying with a growing pause; past ``reconnect_seconds``, close the
        subscribers rather than let them wait for events that cannot come."""
        deadline = time.monotonic() + self._limits.reconnect_seconds
        pause = 0.05
        while self._gap is not None and self.subscriber_count:
            try:
                await self._listen()
                return
            except Exception as error:  # whatever keeps it from listening is retried until the deadline
                log.warning("live tail is still not listening", error=type(error).__name__)
                if time.monotonic() + pause > deadline:
                    self._gap = None
                    self._close_all(ServiceUnavailable(LOST_CONNECTION), "feed")
                    return
            await asyncio.sleep(pause)
            pause = min(pause * 2, 1.0)
        self._gap = None  # nobody left to catch up

    def _close_all(self, reason: AppError, cause: LiveCloseReason) -> None:
        for subscribers in list(self._subscribers.values()):
            for subscriber in list(subscribers):
                subscriber.close(reason, cause)

    async def _run_fan_out(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            round_started = time.time()
            catch_up, self._catch_up = self._catch_up, None
            if catch_up is not None:
                for account_id in catch_up.accounts():
                    await self._catch_up_account(account_id, catch_up)
            pending, self._pending = self._pending, defaultdict(list)
            self._pending_count = 0
            # Everything heard until now is sent in this round: a later catch-up reads from here.
            self._last_round = round_started
            self._delivered.forget_before(round_started - self._limits.catch_up_margin_seconds)
            for account_id, event_ids in pending.items():
                await self._deliver(account_id, event_ids)

    async def _deliver(self, account_id: str, event_ids: list[str]) -> None:
        subscribers = [s for s in self._subscribers.get(account_id, ()) if not s.is_closed]
        unsent = [event_id for event_id in event_ids if event_id not in self._delivered]
        if not subscribers or not unsent:
            return
        try:
            async with self._db.transaction() as session:
                matched = await match_events(session, account_id, unsent, [s.filters for s in subscribers])
        except Exception as error:  # the feed must outlive one failed read; these subscribers cannot
            log.warning("live tail could not read notified events", error=type(error).__name__)
            for subscriber in subscribers:
                subscriber.close(ServiceUnavailable(LOST_CONNECTION), "feed")
            return
        await self._offer(subscribers, matched)

    async def _catch_up_account(self, account_id: str, gap: Gap) -> None:
        """Send the account's owed subscribers what was recorded since the gap opened and not sent;
        more than a buffer's worth closes them as too far behind, as a slow subscriber is."""
        subscribers = [s for s in gap.owed if s.audience.account_id == account_id and not s.is_closed]
        limit = self._limits.buffer_events + 1
        try:
            async with self._db.transaction() as session:
                matched = await match_recorded_since(
                    session, account_id, gap.since, [s.filters for s in subscribers], limit=limit
                )
        except Exception as error:  # as a failed read of notified events: these subscribers cannot go on
            log.warning("live tail could not catch up", error=type(error).__name__)
            matched = None
        if matched is None or len(matched) >= limit:
            for subscriber in subscribers:
                subscriber.close(ServiceUnavailable(LOST_CONNECTION), "feed")
            return
        # Only what was recorded after a subscriber subscribed is news to it.
        unsent = [
            Matched(
                event=row.event,
                matches=tuple(
                    wanted and row.event.recorded_at is not None and row.event.recorded_at >= s.subscribed_at
                    for s, wanted in zip(subscribers, row.matches, strict=True)
                ),
            )
            for row in matched
            if row.event.id not in self._delivered
        ]
        log.info("live tail caught up", account_id=account_id, events=len(unsent), subscribers=len(subscribers))
        await self._offer(subscribers, unsent)

    async def _offer(self, subscribers: list[Subscriber], matched: list[Matched]) -> None:
        self._delivered.add((row.event.id for row in matched), time.time())
        for row in matched:
            for subscriber, wanted in zip(subscribers, row.matches, strict=True):
                if wanted:
                    subscriber.offer(row.event)
        if any(row.event.action in ACCESS_ACTIONS for row in matched):
            await self._recheck_access(subscribers, [row.event for row in matched])

    async def _recheck_access(self, subscribers: list[Subscriber], events: list[AuditEvent]) -> None:
        """A key revoked or a token logged out in this account: check each subscriber's token again,
        as an HTTP request would be checked, and close those it no longer admits."""
        log.info("live tail rechecks access", events=sum(e.action in ACCESS_ACTIONS for e in events))
        try:
            async with self._db.transaction() as session:
                for subscriber in subscribers:
                    try:
                        await identity_from_token(session, subscriber.audience.claims)
                    except Unauthenticated as refused:
                        subscriber.close(refused, "access")
        except Exception as error:  # cannot tell whether they may still read: close rather than guess
            log.warning("live tail could not recheck access", error=type(error).__name__)
            for subscriber in subscribers:
                subscriber.close(ServiceUnavailable(LOST_CONNECTION), "feed")
