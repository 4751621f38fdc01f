"""arq's worker, woken the moment a delivery is enqueued instead of at its next poll.

arq finds new jobs only by polling its queue, so a delivery enqueued just after a poll waits a
whole poll delay before its attempt starts: most of the time from commit to receipt.  This worker
also subscribes to ``WAKE_CHANNEL``, where every enqueue of a due delivery publishes after its
jobs are queued, and between two polls waits for a message there, at most one poll delay.  The poll
stays: it starts deferred jobs (retries) and crons, and finds anything whose message was lost
(pub/sub keeps nothing for a worker that is not listening); the sweeper stays behind both.
"""

from __future__ import annotations

import time
from typing import Any

from redis.asyncio.client import PubSub

from api.webhooks.queue import WAKE_CHANNEL
from workers.job_start import OneTripStartWorker


class WakeableWorker(OneTripStartWorker):
    """A ``Worker`` whose wait between polls ends early when a wake-up is published (and whose jobs
    start in one round trip, ``workers/job_start.py``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # arq's loop sleeps poll_delay minus the iteration's duration, our wait included: so its
        # own delay becomes 0 and the wait below takes its place, cut short by a wake-up.
        self.wake_up_wait_seconds = self.poll_delay_s
        self.poll_delay_s = 0
        self._wake_ups: PubSub | None = None

    async def _poll_iteration(self) -> None:
        started = time.monotonic()
        await super()._poll_iteration()
        # As arq's own loop does: an iteration that took the whole delay (a busy worker) polls again at once.
        await self._wait_for_wake_up(max(0.0, self.wake_up_wait_seconds - (time.monotonic() - started)))

    async def _wait_for_wake_up(self, timeout_seconds: float) -> None:
        """Return on a wake-up or after ``timeout_seconds``.  Subscribed before the next poll, so a
        job enqueued after a poll has read the queue always finds its message waiting."""
        if self._wake_ups is None:
            self._wake_ups = self.pool.pubsub(ignore_subscribe_messages=True)
            await self._wake_ups.subscribe(WAKE_CHANNEL)
            return  # poll again at once: anything published before the subscription is in the queue
        woken = await self._wake_ups.get_message(timeout=timeout_seconds)
        # Several enqueues since the last poll need one poll between them, not one each.
        while woken is not None:
            woken = await self._wake_ups.get_message(timeout=0)

    async def close(self) -> None:
        if self._wake_ups is not None:
            await self._wake_ups.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves PubSub.aclose unannotated
            self._wake_ups = None
        await super().close()
