"""What every benchmark needs: embedded servers, the API as real uvicorn processes, a key, stats."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
from rich.console import Console
from rich.table import Table

from api.embedded import EmbeddedServers, start_servers
from api.migrate import upgrade_database

RESULTS_FILE = Path(__file__).parent / "results.json"
BENCH_SECRET_KEY = "bench-service-secret-key-0123456789abcdef"
# Piped output (CI logs, tee) gets a table wide enough to stay on one line per measurement.
console = Console(width=None if sys.stdout.isatty() else 150)


@dataclass
class Measurement:
    """One line of the report: ours beside the raw limit, and the goal the ratio must meet."""

    benchmark: str
    metric: str
    ours: float
    raw: float
    unit: str
    goal: str
    met: bool

    @property
    def ratio(self) -> float:
        return self.ours / self.raw if self.raw else float("inf")


def stop_process(process: subprocess.Popen[Any]) -> None:
    """SIGTERM, as a user's Ctrl-C or an orchestrator would stop it; SIGKILL after 30 s of no answer."""
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def median(samples: list[float]) -> float:
    return statistics.median(samples) if samples else float("nan")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def embedded_stack() -> Iterator[EmbeddedServers]:
    """Fresh embedded PostgreSQL + Redis in a temp dir, migrated; stopped at the end."""
    with tempfile.TemporaryDirectory(prefix="audittrail-bench-") as data_dir:
        servers = start_servers(Path(data_dir), None, None)
        try:
            upgrade_database(servers.database_url)
            yield servers
        finally:
            servers.stop()


def service_env(servers: EmbeddedServers) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=servers.database_url,
        REDIS_URL=servers.redis_url,
        AUDITTRAIL_SECRET_KEY=BENCH_SECRET_KEY,
        AUDITTRAIL_ALLOW_PRIVATE_ENDPOINTS="true",
        AUDITTRAIL_LOG_LEVEL="WARNING",
    )
    return env


@contextlib.contextmanager
def api_processes(servers: EmbeddedServers, workers: int = 2, ready_timeout: float = 60) -> Iterator[str]:
    """``audittrail serve`` as a user runs it (no delivery worker); yields the base URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "serve", "--port", str(port), "--workers", str(workers), "--no-worker"],
        env=service_env(servers),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(f"{base_url}/readyz", what="API", timeout=ready_timeout)  # 503 until PG and Redis answer
        yield base_url
    finally:
        stop_process(process)


def report(measurements: list[Measurement]) -> None:
    table = Table("benchmark", "metric", "ours", "raw", "ratio", "goal", "met")
    for m in measurements:
        table.add_row(
            m.benchmark,
            m.metric,
            f"{m.ours:,.1f} {m.unit}",
            f"{m.raw:,.1f} {m.unit}",
            f"{m.ratio:.2f}x",
            m.goal,
            "yes" if m.met else "NO",
        )
    console.print(table)


def save(measurements: list[Measurement]) -> None:
    existing = json.loads(RESULTS_FILE.read_text()) if RESULTS_FILE.exists() else {}
    for m in measurements:
        existing.setdefault(m.benchmark, {})[m.metric] = {**asdict(m), "ratio": m.ratio}
    RESULTS_FILE.write_text(json.dumps(existing, indent=2) + "\n")


def wait_until_ready(url: str, *, what: str, timeout: float = 60) -> None:
    """Poll ``url`` until it answers below 500; RuntimeError naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1).status_code < 500:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not become ready within {timeout:g} s")


@contextlib.contextmanager
def worker_process(servers: EmbeddedServers, **settings: str) -> Iterator[subprocess.Popen[bytes]]:
    """``audittrail worker`` as a user runs it, with extra ``AUDITTRAIL_*`` settings; stopped with SIGTERM."""
    env = service_env(servers)
    env.update({f"AUDITTRAIL_{name.upper()}": value for name, value in settings.items()})
    process = subprocess.Popen([sys.executable, "-m", "api.cli", "worker"], env=env)
    try:
        yield process
    finally:
        stop_process(process)


@contextlib.contextmanager
def receiver_process() -> Iterator[str]:
    """The fast webhook receiver (``bench.receiver_app``, 204 for every POST) in its own uvicorn; yields its URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "bench.receiver_app:app", "--port", str(port), "--log-level", "warning",
         "--no-access-log"],
    )  # fmt: skip
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(f"{base_url}/stats", what="receiver")
        yield base_url
    finally:
        stop_process(process)


def exit_cleanly_on_sigterm() -> None:
    """SIGTERM (a CI timeout, ``kill``) unwinds like Ctrl-C, so the embedded servers and the API,
    worker and receiver processes are stopped instead of left running."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def run_alone(run: Callable[[bool], list[Measurement]], description: str | None) -> None:
    """The command line of one benchmark run by itself: ``python -m bench.<name> [--quick]``."""
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    exit_cleanly_on_sigterm()
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="about a minute instead of the full load")
    measurements = run(parser.parse_args().quick)
    report(measurements)
    save(measurements)


def cpu_seconds(process: psutil.Process) -> float:
    """User + system CPU of ``process`` and its live children (uvicorn's workers, node's threads)."""
    total = 0.0
    for member in [process, *process.children(recursive=True)]:
        times = member.cpu_times()
        total += times.user + times.system
    return total


MAINTENANCE = ("autovacuum", "checkpointer", "background writer", "walwriter", "launcher")


def postgres_cpu_seconds(pgdata: Path) -> float:
    """User + system CPU of the processes that serve queries: the postmaster's live backends and IO workers
    (PostgreSQL 18 reads through them), not its maintenance processes.  Autovacuum and the checkpointer
    work through the freshly loaded rows during whichever round is running; counted, they made the
    export's figure (and only its) swing by 2-3 ms per 1,000 events.  A backend is counted while its
    connection is open: a measurement's connections stay open across it (the raw ``COPY``'s, a
    server's pool), or use ``postgres_cpu_since``."""
    return sum(postgres_cpu_by_process(pgdata).values())


def postgres_cpu_by_process(pgdata: Path) -> dict[int, float]:
    """``postgres_cpu_seconds``' processes, each with its CPU seconds so far."""
    postmaster = psutil.Process(int((pgdata / "postmaster.pid").read_text().split()[0]))
    found = {}
    for child in postmaster.children():
        try:
            if any(name in " ".join(child.cmdline()) for name in MAINTENANCE):
                continue
            times = child.cpu_times()
        except psutil.NoSuchProcess:
            continue
        found[child.pid] = times.user + times.system
    return found


def postgres_cpu_since(pgdata: Path, before: dict[int, float]) -> float:
    """The query processes' CPU since ``before`` (``postgres_cpu_by_process``): a process that exited
    meanwhile (a pool closing an idle connection) is left out rather than making the sum negative,
    a process started meanwhile counts whole."""
    now = postgres_cpu_by_process(pgdata)
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in now.items())
