"""The read path beside PostGraphile v5 and the HTTP floor, on the same table and the same pages.

1,000,000 events over 30 days (``--quick``: 200,000; ``BENCH_READ_EVENTS`` sets any number) in
four skewed accounts; every request reads the largest account (40 % of the rows).  Three servers,
one process each, against the same embedded PostgreSQL:

- ours: ``audittrail serve`` (one API process), spacectl's documents;
- PostGraphile v5 (``bench/postgraphile``, installed with npm on first use; skipped with the reason
  when npm or its node 22 is not there) over a view of ``audit_events`` in its own schema: the same
  columns, order (newest first, id tie-break) and account filter;
- the floor (``bench.read_floor_app``): bare ASGI + asyncpg + orjson, our statement with its values
  inlined.

Latency: requests one at a time, the systems taking turns request by request; the first ten of each
case are left out and reported apart ("first 10 mean": a server meets the case's statement on its
connection then, and PostgreSQL plans it).  Throughput: 8
concurrent clients for ``BENCH_READ_SECONDS`` (default 20, ``--quick`` 4) per case and system, in
four slices taken in turns; server CPU per request is the server processes' CPU time over that run,
PostgreSQL's that of its query processes (``postgres_cpu_since``), and the client's that of this
process: on two cores all three share the CPU, so a server's throughput follows their sum.
Run alone with ``python -m bench.read [--quick]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
from rich.progress import Progress
from rich.table import Table
from ulid import ULID

from api.db import raw_url
from bench.harness import (
    Measurement,
    console,
    cpu_seconds,
    embedded_stack,
    percentile,
    postgres_cpu_by_process,
    postgres_cpu_since,
    run_alone,
)
from bench.lean_http import LeanConnection, post_request
from bench.load import BenchAccount, Span, create_accounts, generate_events
from bench.read_cases import Case, Figures, read_cases
from bench.read_servers import Server, floor_server, our_server, postgraphile_server
from bench.search import login

CONCURRENCY = 8
SLICES = 4
PGL_SCHEMA = """
CREATE SCHEMA IF NOT EXISTS pgl;
CREATE OR REPLACE VIEW pgl.entries AS
    SELECT id, account_id, action, event_type, actor, run_id, run_stack_id, affected_resource_type,
           affected_resource_id, related_resource_type, related_resource_id, body, data, context, remote_ip,
           created_at
    FROM public.audit_events;
COMMENT ON VIEW pgl.entries IS E'@primaryKey id,created_at';
CREATE OR REPLACE FUNCTION pgl.action_suggestions(account text, since timestamptz) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'filteredCount', (SELECT count(*) FROM public.audit_events WHERE account_id = account AND created_at >= since),
        'values', (SELECT coalesce(jsonb_agg(jsonb_build_array(action, n) ORDER BY n DESC, action), '[]')
                   FROM (SELECT action, count(*) AS n FROM public.audit_events
                         WHERE account_id = account AND created_at >= since
                         GROUP BY action ORDER BY n DESC, action LIMIT 50) AS top))
$$;
"""


WARMING = 10
"""Requests of each case and system first sent and left out of its latencies: every side's caches warm
then (the server meets its statement, PostgreSQL plans it).  ``latencies`` reports them apart."""


def check_answer(server: Server, case: Case, status: int, body: bytes) -> None:
    if status != 200 or b'"errors"' in body:
        raise RuntimeError(f"{server.system} {case.name}: {status} {body[:500]!r}")


async def send(client: httpx.AsyncClient, server: Server, case: Case) -> None:
    response = await client.post(server.path, json=case.body_for(server.system))
    check_answer(server, case, response.status_code, response.content)


async def timed_turns(
    servers: list[Server], runs: int, send_one: Callable[[Server], Awaitable[None]]
) -> dict[str, list[float]]:
    """Each system's ms for ``WARMING + runs`` requests, the systems taking turns request by request."""
    timings: dict[str, list[float]] = {server.system: [] for server in servers}
    for _ in range(WARMING + runs):
        for server in servers:
            started = time.perf_counter()
            await send_one(server)
            timings[server.system].append((time.perf_counter() - started) * 1000)
    return timings


async def latencies(clients: dict[str, httpx.AsyncClient], servers: list[Server], case: Case, runs: int) -> None:
    timings = await timed_turns(servers, runs, lambda server: send(clients[server.system], server, case))
    for system, taken in timings.items():
        case.figures[system].warming_ms.extend(taken[:WARMING])
        case.figures[system].latencies_ms.extend(taken[WARMING:])


async def lean_latencies(servers: list[Server], case: Case, runs: int, headers_of: dict[str, dict[str, str]]) -> None:
    """The same turns as ``latencies`` through ``bench.lean_http``: what a client costing tens of
    microseconds a request sees (for cases with a p50 goal in ms; httpx's own CPU is above it)."""
    connections = {server.system: await LeanConnection.open(server.base_url) for server in servers}
    requests = {
        server.system: post_request(
            server.base_url,
            server.path,
            json.dumps(case.body_for(server.system)).encode(),
            headers_of.get(server.system, {}),
        )
        for server in servers
    }

    async def exchange(server: Server) -> None:
        status, body = await connections[server.system].exchange(requests[server.system])
        check_answer(server, case, status, body)

    try:
        timings = await timed_turns(servers, runs, exchange)
    finally:
        for connection in connections.values():
            await connection.close()
    for system, taken in timings.items():
        case.figures[system].lean_latencies_ms.extend(taken[WARMING:])


async def throughput(client: httpx.AsyncClient, server: Server, case: Case, seconds: float, pgdata: Path) -> None:
    figures = case.figures[server.system]
    deadline = time.perf_counter() + seconds
    done = 0

    async def loop() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await send(client, server, case)
            done += 1

    cpu_before, postgres_before = cpu_seconds(server.process), postgres_cpu_by_process(pgdata)
    client_before, started = time.process_time(), time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(CONCURRENCY)))
    figures.seconds += time.perf_counter() - started
    figures.cpu_seconds += cpu_seconds(server.process) - cpu_before
    figures.postgres_cpu_seconds += postgres_cpu_since(pgdata, postgres_before)
    figures.client_cpu_seconds += time.process_time() - client_before
    figures.requests += done


async def measure(servers: list[Server], cases: list[Case], runs: int, seconds: float, pgdata: Path) -> None:
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    clients = {s.system: httpx.AsyncClient(base_url=s.base_url, timeout=60, limits=limits) for s in servers}
    try:
        account = next(s.account for s in servers if s.account is not None)
        clients["ours"].headers["Authorization"] = f"Bearer {await login(clients['ours'], account)}"
        for case in cases:
            await same_page(clients, servers, case)
        with Progress(transient=True) as progress:
            task = progress.add_task("read: latency, then throughput", total=len(cases) * (1 + SLICES))
            for case in cases:
                taking_part = [s for s in servers if case.body_for(s.system) is not None]
                await latencies(clients, taking_part, case, runs)
                if case.goal_p50_ms is not None:
                    authorization = {"Authorization": clients["ours"].headers["Authorization"]}
                    await lean_latencies(taking_part, case, runs, {"ours": authorization})
                progress.advance(task)
                for _ in range(SLICES):
                    for server in taking_part:
                        await throughput(clients[server.system], server, case, seconds / SLICES, pgdata)
                    progress.advance(task)
    finally:
        for client in clients.values():
            await client.aclose()


async def same_page(clients: dict[str, httpx.AsyncClient], servers: list[Server], case: Case) -> None:
    """Every system answers a page case with the same entries in the same order, or the bench stops."""
    if case.ids_of is None:
        return
    pages = {}
    for server in servers:
        body = case.body_for(server.system)
        if body is not None:
            answer = (await clients[server.system].post(server.path, json=body)).json()
            pages[server.system] = case.ids_of(server.system, answer)
    if len({tuple(ids) for ids in pages.values()}) != 1 or not pages["ours"]:
        raise RuntimeError(f"{case.name}: the systems answer different pages: {pages}")


def report(cases: list[Case]) -> list[Measurement]:
    table = Table("case", "system", "p50", "p95", "p50, lean client", "first 10 mean", f"req/s at {CONCURRENCY}",
                  "server CPU/request", "PostgreSQL CPU/request", "client CPU/request", "p50 / PostGraphile",
                  "p95 / PostGraphile", "req/s / PostGraphile", "p50 / floor")  # fmt: skip
    measurements = []
    for case in cases:
        rows = {name: figures for name, figures in case.figures.items() if figures.latencies_ms}
        pgl, floor = rows.get("PostGraphile"), rows["floor"]
        for name, figures in rows.items():
            p50, p95 = percentile(figures.latencies_ms, 50), percentile(figures.latencies_ms, 95)
            ratios = ["", "", "", ""]
            if name == "ours":
                if pgl:
                    ratios[:3] = [
                        f"{p50 / percentile(pgl.latencies_ms, 50):.2f}x",
                        f"{p95 / percentile(pgl.latencies_ms, 95):.2f}x",
                        f"{figures.per_second / pgl.per_second:.2f}x",
                    ]
                ratios[3] = f"{p50 / percentile(floor.latencies_ms, 50):.2f}x"
            first = f"{sum(figures.warming_ms) / len(figures.warming_ms):.2f} ms"
            lean = f"{percentile(figures.lean_latencies_ms, 50):.2f} ms" if figures.lean_latencies_ms else ""
            table.add_row(case.name, name, f"{p50:.2f} ms", f"{p95:.2f} ms", lean, first, f"{figures.per_second:.0f}",
                          f"{figures.cpu_ms_per_request:.2f} ms", f"{figures.postgres_cpu_ms_per_request:.2f} ms",
                          f"{figures.client_cpu_ms_per_request:.2f} ms", *ratios)  # fmt: skip
        measurements.extend(case_measurements(case, rows))
    console.print(table)
    return measurements


def case_measurements(case: Case, rows: dict[str, Figures]) -> list[Measurement]:
    ours, floor, pgl = rows["ours"], rows["floor"], rows.get("PostGraphile")
    found = []
    if pgl is not None:
        races = case.races_postgraphile
        for label, pct in (("p50", 50), ("p95", 95)):
            mine, theirs = percentile(ours.latencies_ms, pct), percentile(pgl.latencies_ms, pct)
            found.append(Measurement("read", f"{case.name} {label} vs PostGraphile", mine, theirs, "ms",
                                     "< PostGraphile" if races else "(reported)",
                                     mine < theirs or not races))  # fmt: skip
        found.append(Measurement("read", f"{case.name} req/s vs PostGraphile", ours.per_second, pgl.per_second,
                                 "req/s", "> PostGraphile" if races else "(reported)",
                                 ours.per_second > pgl.per_second or not races))  # fmt: skip
    mine, lowest = percentile(ours.latencies_ms, 50), percentile(floor.latencies_ms, 50)
    found.append(Measurement("read", f"{case.name} p50 vs floor", mine, lowest, "ms", "<= 2x floor",
                             mine <= 2 * lowest))  # fmt: skip
    if case.goal_p50_ms is not None and ours.lean_latencies_ms:
        # The goal in ms is judged on the lean client's p50: httpx's own CPU a request is above it.
        mine, lowest = percentile(ours.lean_latencies_ms, 50), percentile(floor.lean_latencies_ms, 50)
        goal = f"<= {case.goal_p50_ms:g} ms"
        found.append(Measurement("read", f"{case.name} p50, lean client, vs floor", mine, lowest, "ms", goal,
                                 mine <= case.goal_p50_ms))  # fmt: skip
        if pgl is not None and pgl.lean_latencies_ms:
            theirs = percentile(pgl.lean_latencies_ms, 50)
            found.append(Measurement("read", f"{case.name} p50, lean client, vs PostGraphile", mine, theirs, "ms",
                                     "(reported)", True))  # fmt: skip
    return found


def events_wanted(quick: bool) -> int:
    return int(os.environ.get("BENCH_READ_EVENTS", 200_000 if quick else 1_000_000))


def seconds_wanted(quick: bool) -> float:
    return float(os.environ.get("BENCH_READ_SECONDS", 4 if quick else 20))


@dataclass(frozen=True)
class Prepared:
    account: BenchAccount
    entry_id: str


async def prepare(database_url: str, total: int) -> Prepared:
    accounts = await create_accounts(database_url)
    now = datetime.now(UTC)
    await generate_events(database_url, accounts, [Span(now - timedelta(days=30), now, total)])
    connection = await asyncpg.connect(raw_url(database_url))
    try:
        await connection.execute(PGL_SCHEMA)
        # Generated ids only look like ULIDs; one real one (of its row's time) for auditTrailEntry(id).
        row = await connection.fetchrow(
            "SELECT id, created_at FROM audit_events WHERE account_id = $1 ORDER BY created_at DESC, id DESC"
            " OFFSET 7 LIMIT 1",
            accounts[0].account_id,
        )
        entry_id = str(ULID.from_datetime(row["created_at"]))
        await connection.execute(
            "UPDATE audit_events SET id = $1 WHERE id = $2 AND created_at = $3", entry_id, row["id"], row["created_at"]
        )
    finally:
        await connection.close()
    return Prepared(accounts[0], entry_id)


def run(quick: bool) -> list[Measurement]:
    runs = 50 if quick else 200
    with embedded_stack() as servers, contextlib.ExitStack() as stack:
        prepared = asyncio.run(prepare(servers.database_url, events_wanted(quick)))
        started = [
            stack.enter_context(our_server(servers, prepared.account)),
            stack.enter_context(floor_server(servers)),
        ]
        try:
            started.append(stack.enter_context(postgraphile_server(servers, prepared.account)))
        except RuntimeError as reason:
            console.print(f"[yellow]PostGraphile skipped: {reason}[/yellow]")
        cases = read_cases(prepared.account.account_id, prepared.entry_id, datetime.now(UTC))
        assert servers.postgres is not None, "the benchmark runs on embedded PostgreSQL"
        asyncio.run(measure(started, cases, runs, seconds_wanted(quick), servers.postgres.pgdata))
        return report(cases)


if __name__ == "__main__":
    run_alone(run, __doc__)
