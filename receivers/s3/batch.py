"""NDJSON batching for the long-running app: one open batch per account and day.

A batch is written when it holds ``max_events`` events, reaches about ``max_bytes``, or has
been open ``max_seconds``, whichever comes first, and on shutdown.  With ack "flushed" each
delivery is answered only after its batch is in S3 (at-least-once: a failed write fails the
deliveries and the sender retries them).  With ack "buffered" a delivery is answered once it is
in memory, so a crash or a failed write loses it (at-most-once).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from receivers.s3.config import BatchSettings
from receivers.s3.receive import ReceivedEvent
from receivers.s3.store import S3Store

log = logging.getLogger(__name__)

Partition = tuple[str, str]

# What an NDJSON line adds around the body: {"eventId":"…","body":…}\n
_LINE_OVERHEAD = 24


@dataclass
class _Batch:
    events: list[ReceivedEvent] = field(default_factory=list)
    size_bytes: int = 0
    waiters: list[asyncio.Future[str]] = field(default_factory=list)
    timer: asyncio.TimerHandle | None = None


class BatchWriter:
    """Buffers verified events and writes each account's day as NDJSON objects."""

    def __init__(self, store: S3Store, settings: BatchSettings) -> None:
        self._store = store
        self._settings = settings
        self._open: dict[Partition, _Batch] = {}
        self._writes: set[asyncio.Task[None]] = set()

    async def add(self, event: ReceivedEvent) -> str | None:
        """Buffer one event.  With ack "flushed", wait for its batch and return the key (or raise
        what the write raised); with ack "buffered", return None at once."""
        loop = asyncio.get_running_loop()
        partition = (event.account, event.date)
        batch = self._open.get(partition)
        if batch is None:
            batch = self._open[partition] = _Batch()
            batch.timer = loop.call_later(self._settings.max_seconds, self._write_in_background, partition, batch)
        batch.events.append(event)
        batch.size_bytes += len(event.body_bytes) + len(event.event_id) + _LINE_OVERHEAD
        waiter: asyncio.Future[str] | None = None
        if self._settings.ack == "flushed":
            waiter = loop.create_future()
            batch.waiters.append(waiter)
        if len(batch.events) >= self._settings.max_events or batch.size_bytes >= self._settings.max_bytes:
            self._write_in_background(partition, batch)
        return None if waiter is None else await waiter

    async def close(self) -> None:
        """Write every open batch and wait for all writes; call on shutdown."""
        for partition, batch in list(self._open.items()):
            self._write_in_background(partition, batch)
        while self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)

    def _write_in_background(self, partition: Partition, batch: _Batch) -> None:
        # Closing the batch here, synchronously on the event loop, means the next event for
        # this partition opens a fresh batch: no lock is needed around the open batches.
        if self._open.get(partition) is not batch:
            return
        del self._open[partition]
        if batch.timer is not None:
            batch.timer.cancel()
        task = asyncio.get_running_loop().create_task(self._write(batch))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _write(self, batch: _Batch) -> None:
        try:
            key = await asyncio.to_thread(self._store.put_batch, batch.events)
        except Exception as error:
            if self._settings.ack == "buffered":
                log.error("lost %d buffered events: could not write their batch: %s", len(batch.events), error)
            for waiter in batch.waiters:
                if not waiter.done():
                    waiter.set_exception(error)
            return
        log.info("wrote %d events to %s", len(batch.events), key)
        for waiter in batch.waiters:
            if not waiter.done():
                waiter.set_result(key)
