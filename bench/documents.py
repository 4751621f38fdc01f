"""Expensive documents: the server's CPU time for each hostile document of ``bench.hostile_documents``.

No token is sent: everything here is what anyone who can reach ``/graphql`` can make the API do.
The API runs as ``audittrail serve`` (one process, default settings); its CPU time (user + system,
read from the OS) is taken around ``REPEATS`` requests of each document, sent one at a time, so
the figure is what one document costs the event loop every other request shares: parse, validate
and refuse (or execute, for what the limits let through).  Goal: the worst under 20 ms.
The introspection query is shown for scale, not a hostile document: it is legitimate work.
Run alone with ``python -m bench.documents [--quick]``.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import psutil
from graphql import get_introspection_query

from api.settings import Settings
from bench.harness import (
    Measurement,
    console,
    embedded_stack,
    free_port,
    run_alone,
    service_env,
    stop_process,
    wait_until_ready,
)
from bench.hostile_documents import operation_name, worst_documents

GOAL_MS = 20.0
# Beside the hostile documents, two a client really sends: the cheapest answer and the largest
# document (GraphiQL's introspection query, executed: AUDITTRAIL_INTROSPECTION=false refuses it).
REFERENCES = {
    "{ __typename } (the cheapest answer)": "{ __typename }",
    "GraphiQL's introspection query (executed)": get_introspection_query(
        descriptions=True,
        specified_by_url=True,
        directive_is_repeatable=True,
        schema_description=True,
        input_value_deprecation=True,
    ),
}


@dataclass(frozen=True)
class DocumentCost:
    """What one document cost the server, and how it was answered."""

    label: str
    cpu_ms: float
    answer: str


@contextlib.contextmanager
def api_process() -> Iterator[tuple[str, psutil.Process]]:
    """``audittrail serve`` in one process (its CPU time is the API's), with fresh embedded servers."""
    with embedded_stack() as servers:
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "serve", "--port", str(port), "--workers", "1", "--no-worker"],
            env=service_env(servers),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            base_url = f"http://127.0.0.1:{port}"
            wait_until_ready(f"{base_url}/readyz", what="API")
            yield base_url, psutil.Process(process.pid)
        finally:
            stop_process(process)


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def answer_of(response: httpx.Response) -> str:
    """The error code the document was answered with, or "executed"."""
    if response.headers.get("content-type", "").startswith("application/json"):
        errors = response.json().get("errors") or []
        if errors:
            return str((errors[0].get("extensions") or {}).get("code"))
        return "executed"
    return f"HTTP {response.status_code}"


def measure(client: httpx.Client, server: psutil.Process, label: str, document: str, repeats: int) -> DocumentCost:
    body = {"query": document, "operationName": operation_name(document)}
    response = client.post("/graphql", json=body)  # warm-up: imports, caches, the first answer
    started = cpu_seconds(server)
    for _ in range(repeats):
        client.post("/graphql", json=body)
    cpu_ms = (cpu_seconds(server) - started) * 1000 / repeats
    return DocumentCost(label, cpu_ms, answer_of(response))


def run(quick: bool) -> list[Measurement]:
    repeats = 5 if quick else 20
    hostile = worst_documents(Settings())
    with api_process() as (base_url, server), httpx.Client(base_url=base_url, timeout=120) as client:
        costs = [measure(client, server, label, document, repeats) for label, document in hostile.items()]
        references = [measure(client, server, label, document, repeats) for label, document in REFERENCES.items()]
    costs.sort(key=lambda cost: cost.cpu_ms, reverse=True)
    worst = costs[0]
    console.print(f"most expensive: {worst.label}: {worst.cpu_ms:.1f} ms of server CPU, answered {worst.answer}")
    for cost in costs + references:
        console.print(f"  {cost.cpu_ms:7.1f} ms  {cost.answer:26}  {cost.label}")
    labels = [f"worst: {worst.label}"] + [cost.label for cost in costs[1:] + references]
    return [
        Measurement("documents", label, cost.cpu_ms, GOAL_MS, "ms CPU", f"under {GOAL_MS:g} ms", cost.cpu_ms < GOAL_MS)
        for label, cost in zip(labels, costs + references, strict=True)
    ]


if __name__ == "__main__":
    run_alone(run, __doc__)
