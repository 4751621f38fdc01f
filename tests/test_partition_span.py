"""A page of the whole trail read in partition order (``api/audit/partition_span.py``): the same rows as
the plain statement's whatever the span, rows of the default partition included, and the plan it
exists for."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from api.audit.partition_span import DAILY_BOUNDS_SQL, DailyPartitions, covered_span
from api.audit.query import Filters
from api.audit.search import PageRequest, Span, search_events
from api.audit.search_raw import EventRow, kept_search
from api.db import Database
from api.models import Role
from api.paging import Direction
from tests.helpers import Api, Key
from tests.test_audit_support import ago, draft, seed

DAY = timedelta(days=1)
START = datetime(2026, 1, 1, tzinfo=UTC)


def days(first: int, count: int) -> list[tuple[datetime, datetime]]:
    return [(START + (first + n) * DAY, START + (first + n + 1) * DAY) for n in range(count)]


def test_the_span_is_the_longest_stretch_without_a_gap() -> None:
    assert covered_span([]) is None
    assert covered_span(days(0, 3)) == (START, START + 3 * DAY)
    assert covered_span(list(reversed(days(0, 3)))) == (START, START + 3 * DAY)  # in any order
    assert covered_span(days(0, 2) + days(3, 5)) == (START + 3 * DAY, START + 8 * DAY)  # a missing day
    assert covered_span(days(0, 2) + days(3, 2)) == (START + 3 * DAY, START + 5 * DAY)  # equal: the newest


async def test_the_span_is_read_from_the_catalog_and_follows_a_new_partition(db: Database) -> None:
    async with db.reads.connection() as connection:
        span = await DailyPartitions().span(connection)
        assert span is not None
        named = await connection.fetch(
            "SELECT relname FROM pg_class WHERE relname ~ '^audit_events_p[0-9]{8}$' AND relkind = 'r'"
        )
        first_day = min(datetime.strptime(row["relname"][-8:], "%Y%m%d").replace(tzinfo=UTC) for row in named)
        assert span[0] == first_day and (span[1] - span[0]) / DAY == len(named)  # the default is not in it
        trying = connection.transaction()  # rolled back: other tests keep the partitions they know
        await trying.start()
        try:
            starts, ends = span[1].isoformat(), (span[1] + DAY).isoformat()
            await connection.execute(
                f"CREATE TABLE audit_events_next PARTITION OF audit_events FOR VALUES FROM ('{starts}') TO ('{ends}')"
            )
            rows = await connection.fetch(DAILY_BOUNDS_SQL)
            assert covered_span((row["starts"], row["ends"]) for row in rows) == (span[0], span[1] + DAY)
        finally:
            await trying.rollback()
        kept = DailyPartitions(seconds=3600)
        assert await kept.span(connection) == span


@pytest.fixture
async def scattered(api: Api) -> Key:
    """acme's events in the daily partitions and, outside them (60 and 90 days back, 20 and 30 days
    ahead), in the default partition; and globex's in both, which no page of acme may show."""
    key = await api.key("acme", Role.READER)
    moments = [ago(minutes=m) for m in (1, 2, 3)] + [ago(days=d) for d in (2, 2, 5, 60, 90, -20, -30)]
    await seed(
        api.db, key.account_id, [draft("stack.update", f"github::user-{n}", at=at) for n, at in enumerate(moments)]
    )
    other = await api.key("globex", Role.READER)
    await seed(api.db, other.account_id, [draft("stack.update", at=ago(days=d)) for d in (1, 70, -25)], "globex")
    return key


async def page_ids(db: Database, account_id: str, page: PageRequest, span: Span | None) -> tuple[list[str], bool]:
    now = datetime.now(UTC)
    statement, parameters = kept_search(account_id, Filters(), page, now=now, span=span)
    async with db.reader() as reader:
        rows = [EventRow(*row) for row in await reader.fetch(statement, parameters, fixed=True)]
    return [row.id for row in rows[: page.first]], len(rows) > page.first


async def every_page(db: Database, account_id: str, direction: Direction, span: Span | None) -> list[str]:
    """The account's ids, two a page, through the kept statement with ``span``; each page checked
    against the plain statement's (SQLAlchemy's session, no span)."""
    found: list[str] = []
    page = PageRequest(first=2, direction=direction)
    while True:
        ids, has_next = await page_ids(db, account_id, page, span)
        async with db.transaction() as session:
            plain = await search_events(session, account_id, Filters(), page)
        assert (ids, has_next) == ([event.id for event in plain.events], plain.has_next_page)
        found.extend(ids)
        if not has_next:
            return found
        page = PageRequest(first=2, direction=direction, after=plain.end_cursor)


async def test_every_span_pages_through_the_same_rows_as_the_plain_statement(db: Database, scattered: Key) -> None:
    async with db.reads.connection() as connection:
        actual = await DailyPartitions().span(connection)
    assert actual is not None
    now = datetime.now(UTC)
    spans: list[Span | None] = [
        None,
        actual,
        (now - 3 * DAY, now + DAY),  # narrower: most partitions are outside it
        (now + DAY, now - DAY),  # backwards: nothing inside, everything outside
        (actual[0] - 400 * DAY, actual[1] + 400 * DAY),  # wider than the partitions: the default inside
    ]
    newest_first = await every_page(db, scattered.account_id, Direction.DESC, None)
    assert len(newest_first) == 11  # the ten seeded and the key's login
    for span in spans:
        assert await every_page(db, scattered.account_id, Direction.DESC, span) == newest_first, span
        assert await every_page(db, scattered.account_id, Direction.ASC, span) == newest_first[::-1], span


def scanned(node: dict[str, Any]) -> list[str]:
    """The relations a plan node and the nodes under it scan."""
    below = [name for child in node.get("Plans", []) for name in scanned(child)]
    return [node["Relation Name"], *below] if "Relation Name" in node else below


def limits(node: dict[str, Any]) -> list[dict[str, Any]]:
    """The Limit nodes of a plan, outermost first."""
    below = [limit for child in node.get("Plans", []) for limit in limits(child)]
    return [node, *below] if node["Node Type"] == "Limit" else below


async def test_the_part_inside_the_span_reads_no_default_partition(db: Database, scattered: Key) -> None:
    """What the span is for: the part inside it reads the daily partitions only (the default partition
    pruned while planning), the part outside reads the default partition.  Whether PostgreSQL then reads
    the partitions in order or sorts what they hold depends on its statistics (on 1,000,000 events it
    reads them in order: ``bench.read``); the pruning does not."""
    async with db.reads.connection() as connection:
        span = await DailyPartitions().span(connection)
        assert span is not None
        plans = {}
        for name, given in (("plain", None), ("split", span)):
            statement, _ = kept_search(scattered.account_id, Filters(), PageRequest(first=10), now=ago(), span=given)
            sql = db.statements.sql_and_arguments(statement, {"account_id": scattered.account_id}, fixed=True)[0]
            # As the read path runs it: prepared, on a connection that plans it once for any account.
            await connection.execute(f"PREPARE page_plan AS {sql}")
            try:
                explained = await connection.fetchval(
                    f"EXPLAIN (COSTS OFF, FORMAT JSON) EXECUTE page_plan('{scattered.account_id}')"
                )
            finally:
                await connection.execute("DEALLOCATE page_plan")
            plans[name] = json.loads(explained)[0]["Plan"]
        daily = {  # every daily partition of the span (other tests may have dropped old ones)
            f"audit_events_p{row['starts'].astimezone(UTC):%Y%m%d}"
            for row in await connection.fetch(DAILY_BOUNDS_SQL)
            if span[0] <= row["starts"] < row["ends"] <= span[1]
        }
    assert "audit_events_default" in scanned(plans["plain"]) and daily <= set(scanned(plans["plain"]))
    _, *parts = limits(plans["split"])  # the page's limit, then each part's
    assert [set(scanned(part)) for part in parts] == [daily, {"audit_events_default"}]
