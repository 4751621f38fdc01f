"""Search: the first page of typical searches through GraphQL vs the same SQL by hand through asyncpg.

5,000,000 events over 30 days (``--quick``: 500,000) in four accounts; the searches are those of
the largest account (40 % of the rows).  Each case runs ``RUNS`` times, ours and raw interleaved.
Also page 1,000 of a keyset-paged listing against its page 1.
Run alone with ``python -m bench.search [--quick]``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
from rich.progress import Progress

from api.audit.query import SEARCH_TEXT_SQL
from api.db import raw_url
from api.paging import Cursor, Direction, encode_cursor
from bench.harness import Measurement, api_processes, embedded_stack, percentile, run_alone
from bench.load import BenchAccount, Span, create_accounts, generate_events

PAGE = 50
WARMUP = 10
ENTRY_FIELDS = """id action eventType actor { username source identity run { id stackId } }
affectedResource { resourceType resourceId } relatedResource { resourceType resourceId }
body data context remoteIP createdAt updatedAt timestamp"""
SEARCH = f"""query($input: SearchInput!) {{ searchAuditTrailEntries(input: $input) {{
  edges {{ cursor node {{ {ENTRY_FIELDS} }} }} pageInfo {{ endCursor hasNextPage hasPreviousPage }} }} }}"""
SUGGESTIONS = """query($input: SearchSuggestionsInput!) { searchAuditTrailEntriesSuggestions(input: $input) {
  filteredCount fields { name possibleValuesString { values counts } } } }"""
NEWEST_FIRST = "ORDER BY created_at DESC, id DESC LIMIT 51"


@dataclass(frozen=True)
class Case:
    """One search: the GraphQL request, and the SQL statements (with arguments) a hand-written client would run."""

    name: str
    query: str
    variables: dict[str, Any]
    raw: list[tuple[str, tuple[Any, ...]]]
    goal_p95_ms: float | None = None


def cases(account_id: str, now: datetime) -> list[Case]:
    week_ago = now - timedelta(days=7)
    week_start = int(week_ago.timestamp())
    seven_days = {"field": "createdAt", "constraint": {"timeInRange": {"start": week_start}}}
    week_from = datetime.fromtimestamp(week_start, UTC)
    return [
        Case(
            "no filter",
            SEARCH,
            {"input": {"first": PAGE}},
            [(f"SELECT * FROM audit_events WHERE account_id = $1 {NEWEST_FIRST}", (account_id,))],
        ),
        Case(
            "action + 7 days",
            SEARCH,
            {
                "input": {
                    "first": PAGE,
                    "predicates": [
                        {"field": "action", "constraint": {"stringMatches": ["stack.update"]}},
                        seven_days,
                    ],
                }
            },
            [
                (
                    f"SELECT * FROM audit_events WHERE account_id = $1 AND action = $2 AND created_at >= $3 "
                    f"{NEWEST_FIRST}",
                    (account_id, "stack.update", week_from),
                )
            ],
            goal_p95_ms=20.0,
        ),
        Case(
            "actor wildcard",
            SEARCH,
            {
                "input": {
                    "first": PAGE,
                    "predicates": [{"field": "actor", "constraint": {"stringMatches": ["github::user12*"]}}],
                }
            },
            [
                (
                    f"SELECT * FROM audit_events WHERE account_id = $1 AND actor LIKE $2 {NEWEST_FIRST}",
                    (account_id, "github::user12%"),
                )
            ],
        ),
        Case(
            "full text",
            SEARCH,
            {"input": {"first": PAGE, "fullTextSearch": "ledger"}},
            [
                (
                    f"SELECT * FROM audit_events WHERE account_id = $1 AND {SEARCH_TEXT_SQL} LIKE $2 {NEWEST_FIRST}",
                    (account_id, "%ledger%"),
                )
            ],
        ),
        Case(
            "suggestions action (7 days)",
            SUGGESTIONS,
            {"input": {"field": "action", "predicates": [seven_days]}},
            [
                (
                    "SELECT count(*) FROM audit_events WHERE account_id = $1 AND created_at >= $2",
                    (account_id, week_from),
                ),
                (
                    "SELECT action, count(*) FROM audit_events WHERE account_id = $1 AND created_at >= $2 "
                    "GROUP BY action ORDER BY count(*) DESC, action LIMIT 50",
                    (account_id, week_from),
                ),
            ],
        ),
    ]


async def timed(call: Callable[[], Awaitable[None]]) -> float:
    started = time.perf_counter()
    await call()
    return (time.perf_counter() - started) * 1000


async def login(client: httpx.AsyncClient, account: BenchAccount) -> str:
    response = await client.post(
        "/graphql",
        json={
            "query": "mutation($id: ID!, $s: String!) { apiKeyUser(id: $id, secret: $s) { jwt } }",
            "variables": {"id": account.key_id, "s": account.key_secret},
        },
    )
    return str(response.json()["data"]["apiKeyUser"]["jwt"])


class Sides:
    """Our GraphQL endpoint and a bare asyncpg connection, each timed per request."""

    def __init__(self, client: httpx.AsyncClient, connection: asyncpg.Connection) -> None:
        self.client = client
        self.connection = connection

    async def ours(self, query: str, variables: dict[str, Any]) -> None:
        response = await self.client.post("/graphql", json={"query": query, "variables": variables})
        body = response.json()
        if body.get("errors"):
            raise RuntimeError(body["errors"])

    async def raw(self, statements: list[tuple[str, tuple[Any, ...]]]) -> None:
        for sql, args in statements:
            await self.connection.fetch(sql, *args)

    async def compare(self, case: Case, runs: int, progress: Progress) -> tuple[list[float], list[float]]:
        task = progress.add_task(f"search: {case.name}", total=runs + WARMUP)
        ours, raw = [], []
        for run in range(runs + WARMUP):
            ours_ms = await timed(lambda: self.ours(case.query, case.variables))
            raw_ms = await timed(lambda: self.raw(case.raw))
            if run >= WARMUP:
                ours.append(ours_ms)
                raw.append(raw_ms)
            progress.advance(task)
        return ours, raw


async def measure(base_url: str, database_url: str, account: BenchAccount, runs: int) -> list[Measurement]:
    connection = await asyncpg.connect(raw_url(database_url))
    measurements = []
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        client.headers["Authorization"] = f"Bearer {await login(client, account)}"
        sides = Sides(client, connection)
        with Progress(transient=True) as progress:
            for case in cases(account.account_id, datetime.now(UTC)):
                ours, raw = await sides.compare(case, runs, progress)
                for label, pct in (("p50", 50), ("p95", 95)):
                    ours_ms, raw_ms = percentile(ours, pct), percentile(raw, pct)
                    goal, met = "<= 2x raw", ours_ms <= 2 * raw_ms
                    if case.goal_p95_ms is not None and label == "p95":
                        goal = f"<= 2x raw, <= {case.goal_p95_ms:g} ms"
                        met = met and ours_ms <= case.goal_p95_ms
                    measurements.append(Measurement("search", f"{case.name} {label}", ours_ms, raw_ms, "ms", goal, met))
            measurements.extend(await deep_page(sides, account.account_id, runs, progress))
            measurements.append(await floor(sides, cases(account.account_id, datetime.now(UTC))[0], runs, progress))
    await connection.close()
    return measurements


async def floor(sides: Sides, unfiltered: Case, runs: int, progress: Progress) -> Measurement:
    """The fixed cost of any GraphQL request (HTTP, token check, execution) beside the raw unfiltered page."""
    viewer = Case("viewer", "{ viewer { id } }", {}, unfiltered.raw)
    ours, raw = await sides.compare(viewer, runs, progress)
    return Measurement("search", "floor: `{ viewer { id } }` p50 vs raw no filter p50", percentile(ours, 50),
                       percentile(raw, 50), "ms", "(none: what any request costs)", True)  # fmt: skip


async def deep_page(sides: Sides, account_id: str, runs: int, progress: Progress) -> list[Measurement]:
    """Page 1,000 of the unfiltered listing (after 49,950 rows, by its keyset cursor) vs page 1."""
    last_of_page_999 = await sides.connection.fetchrow(
        "SELECT created_at, id FROM audit_events WHERE account_id = $1 ORDER BY created_at DESC, id DESC "
        "OFFSET $2 LIMIT 1",
        account_id,
        999 * PAGE - 1,
    )
    assert last_of_page_999 is not None, "not enough events for 1,000 pages"
    cursor = encode_cursor(Cursor(last_of_page_999["created_at"], last_of_page_999["id"], Direction.DESC))
    first = Case("page 1", SEARCH, {"input": {"first": PAGE}}, [])
    deep = Case("page 1,000", SEARCH, {"input": {"first": PAGE, "after": cursor}}, [])
    task = progress.add_task("search: page 1 vs page 1,000", total=runs + WARMUP)
    page_1, page_1000 = [], []
    for run in range(runs + WARMUP):
        first_ms = await timed(lambda: sides.ours(first.query, first.variables))
        deep_ms = await timed(lambda: sides.ours(deep.query, deep.variables))
        if run >= WARMUP:
            page_1.append(first_ms)
            page_1000.append(deep_ms)
        progress.advance(task)
    return [
        Measurement("search", f"page 1,000 vs page 1 {label}", percentile(page_1000, pct), percentile(page_1, pct),
                    "ms", "<= 1.5x page 1", percentile(page_1000, pct) <= 1.5 * percentile(page_1, pct))
        for label, pct in (("p50", 50), ("p95", 95))
    ]  # fmt: skip


def run(quick: bool) -> list[Measurement]:
    total = 500_000 if quick else 5_000_000
    runs = 100 if quick else 200
    with embedded_stack() as servers:
        accounts = asyncio.run(create_accounts(servers.database_url))
        now = datetime.now(UTC)
        asyncio.run(generate_events(servers.database_url, accounts, [Span(now - timedelta(days=30), now, total)]))
        with api_processes(servers, workers=2) as base_url:
            return asyncio.run(measure(base_url, servers.database_url, accounts[0], runs))


if __name__ == "__main__":
    run_alone(run, __doc__)
