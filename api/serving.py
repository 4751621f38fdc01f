"""What ``audittrail serve`` needs besides uvicorn: a port check before anything starts, the worker
process beside the API, the commit it runs from, and how to name this command to the operator."""

from __future__ import annotations

import errno
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path


def port_problem(host: str, port: int) -> str | None:
    """Why the API could not listen on ``host:port``, checked before anything starts; None when it can.

    uvicorn would only say so after the console address was printed, in an errno line.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: TIME_WAIT is no conflict
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return f"port {port} is in use; choose another with --port (make run PORT={port + 1})"
            return f"cannot listen on {host}:{port}: {error.strerror}; choose another with --host/--port"
    return None


def own_command() -> str:
    """How to run this command again from here: ``audittrail`` when it is on PATH, else its path."""
    invoked = Path(sys.argv[0])
    on_path = shutil.which("audittrail")
    if on_path is not None and Path(on_path).resolve() == invoked.resolve():
        return "audittrail"
    if invoked.name == "audittrail" and invoked.exists():
        try:
            return str(invoked.resolve().relative_to(Path.cwd()))
        except ValueError:
            return str(invoked)
    return "audittrail"


def checkout_commit() -> str:
    """The commit of the git checkout this code runs from, or "" (an installed package, no git)."""
    try:
        found = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    commit = found.stdout.strip()
    return commit if found.returncode == 0 and len(commit) == 40 else ""


def exit_on_sigterm(signum: int, frame: object) -> None:
    """SIGTERM unwinds like Ctrl-C, so the worker and the embedded servers are stopped on the way out."""
    raise SystemExit(0)


def start_worker_process() -> subprocess.Popen[bytes]:
    """The arq worker as a child in its own session: a Ctrl-C meant for serve reaches it only through us."""
    return subprocess.Popen([sys.executable, "-m", "api.cli", "worker"], start_new_session=True)


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after 20 s: the worker finishes the attempts it holds if it can."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
