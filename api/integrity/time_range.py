"""The range of recording time a verification covers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from api.integrity.statement import DigestStatement


@dataclass(frozen=True)
class TimeRange:
    """Recording times to verify, ``[start, end)``; either end open."""

    start: datetime | None = None
    end: datetime | None = None

    def holds(self, statement: DigestStatement) -> bool:
        """Whether the digest's whole interval lies in the range."""
        starts_inside = self.start is None or statement.interval_start >= self.start
        ends_inside = self.end is None or statement.interval_end <= self.end
        return starts_inside and ends_inside
