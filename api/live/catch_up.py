"""What a feed owes its subscribers after its LISTEN connection dropped, and what it already sent.

Notifications sent while no connection listened are lost, so after it listens again the feed
reads the gap back by recording time: every event of the owed accounts recorded since the last
fan-out round before the drop, less a margin for transactions still open then, minus what it had
already sent (``Delivered``).  An event that was sent had been recorded before it was sent, so
every sent event the catch-up can read is still in the ledger.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from api.live.subscriber import Subscriber


@dataclass
class Gap:
    """Since when events may have been missed (recording time), and by whom."""

    since: datetime
    owed: set[Subscriber] = field(default_factory=set)

    def merged(self, other: Gap | None) -> Gap:
        """One gap covering this one and ``other`` (a second drop before the first was caught up)."""
        if other is None:
            return self
        return Gap(since=min(self.since, other.since), owed=self.owed | other.owed)

    def accounts(self) -> set[str]:
        return {subscriber.audience.account_id for subscriber in self.owed if not subscriber.is_closed}


class Delivered:
    """Ids of the events fanned out recently, with when (unix seconds): neither a catch-up nor the
    notifications heard while it ran send one twice."""

    def __init__(self) -> None:
        self._sent_at: OrderedDict[str, float] = OrderedDict()

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._sent_at

    def __len__(self) -> int:
        return len(self._sent_at)

    def add(self, event_ids: Iterable[str], at: float) -> None:
        for event_id in event_ids:
            self._sent_at[event_id] = at

    def forget_before(self, moment: float) -> None:
        """Drop the ids sent before ``moment`` (kept in the order they were sent)."""
        while self._sent_at:
            oldest, sent_at = next(iter(self._sent_at.items()))
            if sent_at >= moment:
                return
            del self._sent_at[oldest]
