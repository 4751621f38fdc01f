"""`make run` as a user runs it: embedded servers, bootstrap key, GraphiQL, clean Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

from tests.support.processes import stop_process

STARTUP_DEADLINE_S = 90


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_serve(data_dir: Path, port: int, log_path: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUDITTRAIL_", "DATABASE_URL", "REDIS_URL"))}
    env["AUDITTRAIL_DATA_DIR"] = str(data_dir)
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "api.cli", "serve", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def wait_ready(port: int, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_DEADLINE_S
    while time.monotonic() < deadline:
        assert process.poll() is None, log_path.read_text()
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"not ready in time:\n{log_path.read_text()}")


def servers_using(data_dir: Path) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        try:
            if str(data_dir) in " ".join(process.info["cmdline"] or []):
                found.append(process)
        except psutil.Error:
            continue
    return found


def login(port: int, key_id: str, secret: str) -> dict[str, object]:
    response = httpx.post(
        f"http://127.0.0.1:{port}/graphql",
        json={
            "query": "mutation($id: ID!, $s: String!) { apiKeyUser(id: $id, secret: $s) { id jwt validUntil } }",
            "variables": {"id": key_id, "s": secret},
        },
        timeout=10,
    )
    return dict(response.json())


def test_serve_bootstraps_serves_and_stops_cleanly_then_reuses_its_data(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    port = free_port()
    log_path = tmp_path / "serve.log"
    first = start_serve(data_dir, port, log_path)
    try:
        wait_ready(port, first, log_path)
        output = log_path.read_text()
        assert f"GraphiQL: http://127.0.0.1:{port}/graphql" in output
        assert f"Data dir: {data_dir.resolve()}" in output
        assert "Warning" not in output, "the embedded servers' start says nothing but what a user needs"
        key_id = re.search(r"key id:\s+(\S+)", output)
        secret = re.search(r"key secret:\s+(\S+)", output)
        assert key_id and secret, output
        token = login(port, key_id.group(1), secret.group(1))
        assert token["data"]["apiKeyUser"]["jwt"]  # type: ignore[index]
        graphiql = httpx.get(f"http://127.0.0.1:{port}/graphql", headers={"Accept": "text/html"}, timeout=10)
        assert graphiql.status_code == 200 and "graphiql" in graphiql.text.lower()
        assert servers_using(data_dir), "expected embedded postgres/redis under the data dir"
        children = psutil.Process(first.pid).children(recursive=True)
        assert any("worker" in " ".join(child.cmdline()) for child in children), "the arq worker runs beside the API"
    finally:
        exit_code = stop_process(first, signal.SIGINT, timeout=60)
    assert exit_code == 0, log_path.read_text()
    assert servers_using(data_dir) == []
    assert [child.pid for child in children if child.is_running() and child.status() != psutil.STATUS_ZOMBIE] == []

    second = start_serve(data_dir, port, log_path)
    try:
        wait_ready(port, second, log_path)
        output = log_path.read_text()
        assert output.count("key secret:") == 1, "a second start must not create another key"
        assert "Another key: audittrail keys create --account default --role ADMIN --name NAME" in output
        assert "data" in login(port, key_id.group(1), secret.group(1))
        children = psutil.Process(second.pid).children(recursive=True)
    finally:
        # A container runtime stops with SIGTERM: it must be as clean as Ctrl-C.
        assert stop_process(second, signal.SIGTERM, timeout=60) == 0
    assert servers_using(data_dir) == []
    assert [child.pid for child in children if child.is_running() and child.status() != psutil.STATUS_ZOMBIE] == []


def test_serve_on_a_port_in_use_says_so_in_one_line_and_starts_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        log_path = tmp_path / "serve.log"
        process = start_serve(data_dir, port, log_path)
        exit_code = process.wait(timeout=60)
    output = log_path.read_text()
    assert exit_code == 1
    assert output == f"error: port {port} is in use; choose another with --port (make run PORT={port + 1})\n"
    assert not data_dir.exists(), "nothing starts before the port is known to be free"
