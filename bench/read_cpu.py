"""Server CPU per read request, measured in process: ``python -m bench.read_cpu [--profile CASE]``.

``bench.read`` measures the server as a user runs it, beside PostGraphile; its CPU figure is the
server process's over a throughput run, on a machine that other work shares.  This one calls the
ASGI app directly in this process (on uvloop, without uvicorn's HTTP and without a client), one
request at a time, and reads ``time.process_time``: the CPU our code spends per request, steadier
than the server's CPU over a throughput run when comparing two commits.
Each case is run ``ROUNDS`` times in batches of ``BATCH`` requests; the best batch is reported.
``--profile CASE`` prints cProfile's costliest functions for that case instead.
``BENCH_READ_CPU_EVENTS`` sets the events generated (default 20,000).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import time
from collections.abc import MutableMapping
from datetime import UTC, datetime
from typing import Any

import orjson
import uvloop
from starlette.applications import Starlette

from bench.harness import console, embedded_stack, exit_cleanly_on_sigterm, service_env
from bench.read import prepare
from bench.read_cases import Case, read_cases

ROUNDS = int(os.environ.get("BENCH_READ_CPU_ROUNDS", 5))
BATCH = int(os.environ.get("BENCH_READ_CPU_BATCH", 40))


async def call(app: Starlette, body: dict[str, Any], token: str | None) -> dict[str, Any]:
    """One POST /graphql through the ASGI interface, as uvicorn would make it."""
    payload = orjson.dumps(body)
    headers = [(b"host", b"127.0.0.1:8000"), (b"content-type", b"application/json"),
               (b"content-length", str(len(payload)).encode())]  # fmt: skip
    if token is not None:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": "/graphql", "raw_path": b"/graphql", "query_string": b"", "root_path": "", "headers": headers,
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000), "state": {},
    }  # fmt: skip
    sent = False
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
        sent = True
        return {"type": "http.request", "body": payload, "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    answer: dict[str, Any] = orjson.loads(b"".join(chunks))
    if answer.get("errors"):
        raise RuntimeError(answer["errors"])
    return answer


async def cpu_per_request(app: Starlette, case: Case, token: str) -> float:
    """The best of ``ROUNDS`` batches, in ms of this process's CPU per request."""
    for _ in range(10):
        await call(app, case.ours, token)
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.process_time()
        for _ in range(BATCH):
            await call(app, case.ours, token)
        best = min(best, (time.process_time() - started) / BATCH)
    return best * 1000


async def measure(database_url: str, profile: str | None, only: str | None) -> None:
    from api.app import create_app  # after the environment names the embedded servers
    from api.settings import Settings

    prepared = await prepare(database_url, int(os.environ.get("BENCH_READ_CPU_EVENTS", 20_000)))
    app = create_app(Settings())
    async with app.router.lifespan_context(app):
        login = {
            "query": "mutation($id: ID!, $s: String!) { apiKeyUser(id: $id, secret: $s) { jwt } }",
            "variables": {"id": prepared.account.key_id, "s": prepared.account.key_secret},
        }
        token = (await call(app, login, None))["data"]["apiKeyUser"]["jwt"]
        cases = read_cases(prepared.account.account_id, prepared.entry_id, datetime.now(UTC))
        if profile is not None:
            case = next(c for c in cases if c.name == profile)
            for _ in range(10):
                await call(app, case.ours, token)
            profiler = cProfile.Profile(time.process_time)
            profiler.enable()
            for _ in range(200):
                await call(app, case.ours, token)
            profiler.disable()
            profiler.dump_stats(os.environ.get("BENCH_READ_CPU_PSTATS", "/tmp/read_cpu.pstats"))
            stats = pstats.Stats(profiler)
            stats.sort_stats("tottime").print_stats(45)
            stats.sort_stats("cumulative").print_stats(70)
            return
        for case in cases:
            if only is not None and case.name != only:
                continue
            console.print(f"{case.name:32} {await cpu_per_request(app, case, token):6.2f} ms CPU / request")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profile", metavar="CASE", help="cProfile 200 requests of this case (its name in bench.read)")
    parser.add_argument("--only", metavar="CASE", help="measure only this case (for py-spy: BENCH_READ_CPU_BATCH=1000)")
    arguments = parser.parse_args()
    exit_cleanly_on_sigterm()
    with embedded_stack() as servers:
        os.environ.update(service_env(servers))
        # uvloop, as uvicorn runs ``audittrail serve``'s event loop.
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(measure(servers.database_url, arguments.profile, arguments.only))


if __name__ == "__main__":
    main()
