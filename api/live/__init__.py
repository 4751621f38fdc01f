"""Live tail: events pushed to subscribers as their transactions commit (PostgreSQL LISTEN/NOTIFY).

``LiveFeed`` is the one per-process fan-out: ``subscribe`` gives a ``Subscriber`` whose ``events()``
yields the account's new events that match its filters, until it is closed with a reason.
"""

from api.live.feed import LiveFeed, LiveLimits
from api.live.subscriber import Subscriber

__all__ = ["LiveFeed", "LiveLimits", "Subscriber"]
