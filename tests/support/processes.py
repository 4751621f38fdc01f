"""Stopping a process the tests started: the signal it would get in production, then SIGKILL."""

from __future__ import annotations

import signal
import subprocess
from typing import Any


def stop_process(
    process: subprocess.Popen[Any], stop_signal: signal.Signals = signal.SIGTERM, *, timeout: float = 20
) -> int:
    """Send ``stop_signal``, wait up to ``timeout`` seconds, SIGKILL if it is still running; its exit code.

    A process that needed SIGKILL is reported as killed (-9), so a test that expects a clean stop fails.
    """
    if process.poll() is None:
        process.send_signal(stop_signal)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode
