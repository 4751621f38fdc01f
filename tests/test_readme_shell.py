"""Every ``sh`` block of the README runs when pasted in order on a fresh checkout, as a new user would.

The ``sh`` blocks are the walkthrough; reference snippets that need data or files of the reader's
own (an export, a copy to verify, compose) are ``bash`` blocks.  The test creates a venv from
nothing (minutes), so it runs with ``make soak``, not ``make test``.

The checkout is a copy of the repository's files (what ``git clone`` would give, plus the changes not
committed yet) with no venv: ``make run`` creates it.  Two substitutions make the run possible on a
shared machine and nothing else: free ports for 8000 and 9000, and the key id and secret ``make run``
printed for ``<key id>``/``<key secret>``, as the README asks the reader to paste them.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.processes import stop_process
from tests.test_serve_smoke import free_port, servers_using

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
SH_BLOCKS = re.findall(r"^```sh\n(.*?)^```", README, flags=re.DOTALL | re.MULTILINE)
NOT_RUN = {
    "make test": "the whole suite: CI runs it, not this test",
    "spacectl ": "needs Spacelift's spacectl and a profile",
    "docker compose": "needs Docker",
}
LONG_RUNNING = {"make run": "GraphiQL: ", "make listen": "listening on "}
"""Commands that serve until stopped, and the line that says they are ready."""
STARTUP_DEADLINE_S = 300  # a fresh venv is created first


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    log: Path


def fresh_checkout(target: Path) -> Path:
    """The repository's files (tracked and new, not ignored) copied to ``target``, without .venv or data."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            (target / name).write_bytes(source.read_bytes())
    return target


def start(command: str, checkout: Path, log: Path, ready: str) -> Server:
    environment = {
        k: v for k, v in os.environ.items() if not k.startswith(("AUDITTRAIL_", "DATABASE_URL", "REDIS_URL"))
    }
    environment.pop("VIRTUAL_ENV", None)
    with log.open("ab") as output:
        process = subprocess.Popen(
            ["bash", "-c", command],
            cwd=checkout,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + STARTUP_DEADLINE_S
    while ready not in log.read_text():
        assert process.poll() is None, f"{command!r} stopped:\n{log.read_text()}"
        assert time.monotonic() < deadline, f"{command!r} not ready in time:\n{log.read_text()}"
        time.sleep(0.5)
    return Server(process, log)


def stop(server: Server) -> int:
    """Ctrl-C to the whole process group, as a terminal sends it."""
    if server.process.poll() is None:
        os.killpg(server.process.pid, signal.SIGINT)
    return stop_process(server.process, signal.SIGINT, timeout=90)


def wait_for_lines(log: Path, count: int, marker: str) -> list[str]:
    deadline = time.monotonic() + 60
    while True:
        lines = [line for line in log.read_text().splitlines() if marker in line]
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(0.5)


def test_the_readme_has_the_blocks_this_test_runs() -> None:
    joined = "\n".join(SH_BLOCKS)
    assert "make run" in joined and "make listen" in joined and "auditTrailSetWebhook" in joined
    assert all(any(marker in block for marker in NOT_RUN) or block.strip() for block in SH_BLOCKS)


@pytest.mark.soak
def test_every_readme_shell_block_runs_in_order_on_a_fresh_checkout(tmp_path: Path) -> None:
    checkout = fresh_checkout(tmp_path / "audittrail")
    api_port, listen_port = free_port(), free_port()
    substitutions = {
        "localhost:8000": f"localhost:{api_port}",
        "127.0.0.1:9000": f"127.0.0.1:{listen_port}",
        "PORT=9000": f"PORT={listen_port}",
    }
    servers: dict[str, Server] = {}
    script: list[str] = []
    try:
        for block in SH_BLOCKS:
            for old, new in substitutions.items():
                block = block.replace(old, new)
            lines = [line for line in block.splitlines() if line.strip()]
            if all(line.startswith("make ") for line in lines):
                for line in lines:
                    command = line.split("#")[0].strip()
                    long_running = next((name for name in LONG_RUNNING if command.startswith(name)), None)
                    if long_running is None:
                        assert any(command.startswith(marker) for marker in NOT_RUN), command
                        continue
                    if long_running == "make run":
                        command += f" PORT={api_port}"
                    servers[long_running] = start(
                        command, checkout, tmp_path / f"{long_running.split()[1]}.log", LONG_RUNNING[long_running]
                    )
                continue
            if any(marker in block for marker in NOT_RUN):
                continue
            if "<key id>" in block:
                printed = servers["make run"].log.read_text()
                key_id = re.search(r"key id:\s+(\S+)", printed)
                secret = re.search(r"key secret:\s+(\S+)", printed)
                assert key_id and secret, printed
                block = block.replace("<key id>", key_id.group(1)).replace("<key secret>", secret.group(1))
            script.append(block)
        assert set(servers) == {"make run", "make listen"}

        ran = subprocess.run(
            ["bash", "-c", "set -euo pipefail\n" + "\necho\n".join(script)],
            cwd=checkout,
            capture_output=True,
            text=True,
            timeout=300,
            env={k: v for k, v in os.environ.items() if not k.startswith(("AUDITTRAIL_", "DATABASE_URL", "REDIS_URL"))},
        )
        assert ran.returncode == 0, (ran.stdout, ran.stderr)
        assert '"errors"' not in ran.stdout, ran.stdout
        assert '"enabled":true' in ran.stdout and '"status":"DELIVERED"' in ran.stdout, ran.stdout

        delivered = wait_for_lines(servers["make listen"].log, 3, "signatures=")
        assert [line.split()[0] for line in delivered[:3]] == [
            "audit_trail_webhook.set",
            "api_key.create",
            "api_key.create",
        ], servers["make listen"].log.read_text()
        assert all(line.endswith("signatures=ok") for line in delivered)
        assert any("actor=cli::" in line for line in delivered)
    finally:
        exit_codes = {name: stop(server) for name, server in servers.items()}
    # make passes Ctrl-C on and then dies of it, as in a terminal; never SIGKILLed (-9) by stop_process.
    assert exit_codes.get("make run") in (0, -signal.SIGINT), servers["make run"].log.read_text()
    assert "Finished server process" in servers["make run"].log.read_text()
    assert servers_using(checkout) == []
