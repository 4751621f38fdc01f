"""One live-tail subscription: its filters, its bounded buffer, and why it was closed."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

from api.accounts.tokens import TokenClaims
from api.audit.query import Filters
from api.errors import AppError, ServiceUnavailable, Unauthenticated
from api.models import AuditEvent
from api.observability import count_live_closed
from api.observability.metrics import LiveCloseReason


@dataclass(frozen=True)
class Audience:
    """Who subscribed: the account whose events it may see, and the token that must stay valid."""

    account_id: str
    claims: TokenClaims


class Subscriber:
    """A subscription's queue of matching events, at most ``buffer_size`` of them.

    A subscriber that lets its buffer fill (it reads slower than events arrive) is closed rather
    than allowed to grow: memory stays bounded whatever one client does, and the client is told
    to resubscribe and catch up through the search.
    """

    def __init__(self, audience: Audience, filters: Filters, *, buffer_size: int) -> None:
        self.audience = audience
        self.filters = filters
        self.buffer_size = buffer_size
        self.subscribed_at = datetime.now(UTC)
        """Events recorded before it are not news to this subscriber (a catch-up skips them)."""
        self._buffer: deque[AuditEvent] = deque()
        self._arrived = asyncio.Event()
        self._closed_by: AppError | None = None

    @property
    def is_closed(self) -> bool:
        return self._closed_by is not None

    def offer(self, event: AuditEvent) -> None:
        """Buffer ``event``; a full buffer closes the subscriber instead."""
        if self._closed_by is not None:
            return
        if len(self._buffer) >= self.buffer_size:
            self.close(
                ServiceUnavailable(
                    f"live tail closed: this subscriber fell {self.buffer_size} events behind (its buffer is full);"
                    " resubscribe, and search from the last entry received to catch up"
                ),
                "slow",
            )
            return
        self._buffer.append(event)
        self._arrived.set()

    def close(self, reason: AppError, cause: LiveCloseReason) -> None:
        """End the subscription with ``reason`` (the client's error); buffered events are dropped."""
        if self._closed_by is not None:
            return
        count_live_closed(cause)
        self._closed_by = reason
        self._buffer.clear()
        self._arrived.set()

    async def events(self) -> AsyncIterator[AuditEvent]:
        """The matching events in commit order; raises the closing reason, or UNAUTHENTICATED when
        the token expires (a token outlives nothing it would be refused for over HTTP)."""
        while True:
            if self._closed_by is not None:
                raise self._closed_by
            if self._buffer:
                yield self._buffer.popleft()
                continue
            self._arrived.clear()
            # One timer per wait, not per event: when events queue up, they are taken without one.
            try:
                async with asyncio.timeout(max(self.audience.claims.valid_until - time.time(), 0)):
                    await self._arrived.wait()
            except TimeoutError:
                self.close(Unauthenticated("unauthorized: the token expired; log in again and resubscribe"), "access")
