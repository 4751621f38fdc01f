"""The stretch of time the daily partitions of ``audit_events`` cover without a gap, read from the catalog.

The table also has a DEFAULT partition, for an event whose day has no partition.  A range-partitioned
table with a default partition is not in partition order for PostgreSQL, so a page of the whole
trail, newest first, was a Merge Append: every daily partition's index was descended and its newest
row fetched before the first row came out (40 partitions: 0.35 ms of a 10-entry page's 0.7 ms).  A
condition on ``created_at`` between two constants wholly covered by daily partitions prunes the
default partition while planning, and the partitions left are scanned in order until the page is
full.  ``search.page_statement`` uses such a span for an unfiltered page, beside a second part for
the rows outside it; this module finds the span.

Which span is right matters only for speed: the two parts cover every row whatever the span.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import datetime

import asyncpg

from api.audit.search import Span

SPAN_SECONDS = 60
"""How long a span read from the catalog is used.  Partitions change once a day (the worker's cron
creates the days ahead, retention drops old ones); a stale span costs speed, not rows."""

DAILY_BOUNDS_SQL = r"""
SELECT bounds[1]::timestamptz AS starts, bounds[2]::timestamptz AS ends
FROM (
    SELECT regexp_match(pg_get_expr(c.relpartbound, c.oid), '^FOR VALUES FROM \(''([^'']+)''\) TO \(''([^'']+)''\)$')
    FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'audit_events'::regclass
) AS parts (bounds)
WHERE bounds IS NOT NULL
"""
"""The bounds of each range partition, as PostgreSQL writes them and read back in the same session
(so in its time zone); the default partition and MINVALUE/MAXVALUE bounds do not match."""


def covered_span(bounds: Iterable[tuple[datetime, datetime]]) -> Span | None:
    """The longest stretch the partitions ``bounds`` cover without a gap (the newest of equal ones),
    or None when there are none."""
    best: Span | None = None
    run: Span | None = None
    for starts, ends in sorted(bounds):
        run = (run[0], ends) if run is not None and starts == run[1] else (starts, ends)
        if best is None or run[1] - run[0] >= best[1] - best[0]:
            best = run
    return best


class DailyPartitions:
    """The covered span of this process, read again after ``SPAN_SECONDS``."""

    def __init__(self, seconds: float = SPAN_SECONDS) -> None:
        self._seconds = seconds
        self._span: Span | None = None
        self._read_at = float("-inf")

    async def span(self, connection: asyncpg.Connection) -> Span | None:
        """The span, read from the catalog on ``connection`` when the one held is older than the limit."""
        if time.monotonic() - self._read_at >= self._seconds:
            rows = await connection.fetch(DAILY_BOUNDS_SQL)
            self._span = covered_span((row["starts"], row["ends"]) for row in rows)
            self._read_at = time.monotonic()
        return self._span


DAILY_PARTITIONS = DailyPartitions()
