"""The benchmarks stay runnable: every module `make bench` runs has its `run`, the command line
answers, and a SIGTERM leaves no embedded server behind.  (Their figures are for `make bench`,
never asserted here.)"""

from __future__ import annotations

import importlib
import inspect
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil
import pytest

from bench.__main__ import BENCHMARKS

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", BENCHMARKS)
def test_each_benchmark_has_a_run_taking_quick(name: str) -> None:
    module = importlib.import_module(f"bench.{name}")
    assert list(inspect.signature(module.run).parameters) == ["quick"]
    assert (ROOT / "bench" / f"{name}.py").read_text().count("run_alone(run, __doc__)") == 1


def test_the_command_line_lists_every_benchmark() -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "bench", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert shown.returncode == 0, shown.stderr
    assert all(name in shown.stdout for name in BENCHMARKS)


def test_sigterm_stops_the_embedded_servers() -> None:
    script = textwrap.dedent(
        """
        import time
        from bench.harness import embedded_stack, exit_cleanly_on_sigterm
        exit_cleanly_on_sigterm()
        with embedded_stack() as servers:
            print(servers.postgres.pgdata.parent, flush=True)
            time.sleep(120)
        """
    )
    process = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        data_dir = process.stdout.readline().strip()
        assert data_dir, "the benchmark's servers did not start"
        servers = servers_under(data_dir)
        assert {"postgres", "redis-server"} <= {Path(server.name()).name for server in servers}
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 128 + signal.SIGTERM
        _, alive = psutil.wait_procs(servers, timeout=30)
        assert alive == []
        assert not Path(data_dir).exists(), "the temporary data folder is removed"
    finally:
        process.kill()


def servers_under(data_dir: str) -> list[psutil.Process]:
    """The server processes (postmaster and redis-server) started with their data in ``data_dir``."""
    found = []
    for candidate in psutil.process_iter(["name", "cmdline"]):
        name, cmdline = candidate.info["name"] or "", " ".join(candidate.info["cmdline"] or [])
        if name in ("postgres", "redis-server") and data_dir in cmdline:
            found.append(candidate)
    return found


def test_the_in_process_read_cpu_tool_answers_its_command_line() -> None:
    """``bench.read_cpu`` is no benchmark of ``make bench`` (a tool to compare two commits); it stays runnable."""
    shown = subprocess.run(
        [sys.executable, "-m", "bench.read_cpu", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert shown.returncode == 0, shown.stderr
    assert "--only" in shown.stdout and "--profile" in shown.stdout
