"""What ``apiKeyUser`` asks before checking a secret and reports after: limits, counts and failure events.

A refused login writes nothing to the database in its request, whether the key id is unknown or the
secret wrong: both do the same Redis work (admit, mark the address, count the failure, queue the
record job on a window's first failure), and the worker records the event only for a key that exists.
So the two refusals cannot be told apart by their answer, their time or what they leave behind.

The limits fail open: when Redis does not answer within ``redis_timeout_seconds`` a login is checked
without them (logged), and its failure is recorded by the request itself, as before there were limits.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict

import structlog
from arq.connections import ArqRedis
from redis.exceptions import RedisError

from api.accounts.failed_logins import RECORD_FAILED_LOGIN_JOB, LoginAttempt, record_failed_login
from api.accounts.failure_reports import FailureReports, report_key
from api.accounts.login_limits import LoginLimiter, LoginLimits, Reservation
from api.audit.record import now_ms
from api.db import Database
from api.errors import TooManyFailedLogins, Unauthenticated
from api.models import could_be_id
from api.webhooks import unit_of_work

log = structlog.get_logger(__name__)

REDIS_ERRORS = (RedisError, OSError, TimeoutError)
UNKNOWN_ADDRESS = "unknown"
"""The address of a request without a peer address (a Unix socket): all such requests share a window."""


class LoginGuard:
    """The limits and failure reports of logins, over the service's Redis connection."""

    def __init__(self, queue: ArqRedis, db: Database, limits: LoginLimits) -> None:
        self._queue = queue
        self._db = db
        self._timeout_seconds = limits.redis_timeout_seconds
        self._limiter = LoginLimiter(queue, limits)
        self._reports = FailureReports(queue, window_seconds=limits.key_window_seconds)

    @asynccontextmanager
    async def checking(self, attempt: LoginAttempt) -> AsyncIterator[None]:
        """Check a login inside the block, under the limits: ``TooManyFailedLogins`` before the block (no
        database touched) when one holds; an ``Unauthenticated`` leaving the block is counted and recorded
        as a failure; anything else (success, a database that did not answer) is none."""
        reservation = await self._admit(attempt)
        try:
            yield
        except Unauthenticated:
            await self._failed(reservation, attempt)
            raise
        except Exception:
            await self._release(reservation)
            raise
        await self._release(reservation)

    async def _admit(self, attempt: LoginAttempt) -> Reservation | None:
        """A reservation to check the secret under; None when Redis does not answer (no limits then)."""
        try:
            async with asyncio.timeout(self._timeout_seconds):
                admitted = await self._limiter.admit(
                    attempt.key_id,
                    attempt.remote_ip or UNKNOWN_ADDRESS,
                    report_key=report_key(attempt.key_id),
                    now_ms=now_ms(),
                )
        except REDIS_ERRORS as error:
            log.warning("login limits unavailable: checking the login without them", error=repr(error))
            return None
        if isinstance(admitted, int):
            raise TooManyFailedLogins(admitted)
        return admitted

    async def _release(self, reservation: Reservation | None) -> None:
        if reservation is None:
            return
        try:
            async with asyncio.timeout(self._timeout_seconds):
                await self._limiter.release(reservation)
        except REDIS_ERRORS as error:
            log.warning("login limits unavailable: an attempt that did not fail stays counted", error=repr(error))

    async def _failed(self, reservation: Reservation | None, attempt: LoginAttempt) -> None:
        """Count the failure; the worker records a window's first as an event.  Without Redis, the
        failure is recorded here and now (an id that cannot be one of ours is recorded nowhere)."""
        if reservation is not None:
            try:
                async with asyncio.timeout(self._timeout_seconds):
                    await self._count(reservation, attempt)
                return
            except REDIS_ERRORS as error:
                log.warning("login limits unavailable: recording the failed login now", error=repr(error))
        async with unit_of_work(self._db, self._queue) as unit:
            recorded = await record_failed_login(unit.session, attempt)
            if recorded is not None:
                unit.enqueue_after_commit(recorded.delivery_ids)

    async def _count(self, reservation: Reservation, attempt: LoginAttempt) -> None:
        await self._limiter.mark_failed(reservation, now_ms=attempt.timestamp_ms)
        if not could_be_id(attempt.key_id):
            return  # no key has such an id: limited like the rest, reported to no one
        if await self._reports.count_failure(attempt.key_id, reservation.address, now_ms=attempt.timestamp_ms):
            await self._queue.enqueue_job(RECORD_FAILED_LOGIN_JOB, asdict(attempt))
