"""A transaction whose webhook deliveries are enqueued once it has committed, never inside it.

Enqueuing inside would let the worker look for a delivery row that is not committed yet (or
never will be); after a crash between commit and enqueue the sweeper finds the row anyway.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncSession

from api.db import Database
from api.webhooks.queue import enqueue_deliveries


class UnitOfWork:
    """The open transaction and the deliveries to wake the worker for after it commits."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.delivery_ids: list[str] = []

    def enqueue_after_commit(self, delivery_ids: Iterable[str]) -> None:
        self.delivery_ids.extend(delivery_ids)


@asynccontextmanager
async def unit_of_work(db: Database, queue: ArqRedis | None) -> AsyncIterator[UnitOfWork]:
    """Commit when the block ends (rolls back if it raises), then enqueue what it collected."""
    async with db.transaction() as session:
        unit = UnitOfWork(session)
        yield unit
    await enqueue_deliveries(queue, unit.delivery_ids)
