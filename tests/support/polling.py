"""Waiting for something to become true: the one polling loop of the test suites."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable

Check = Callable[[], bool] | Callable[[], Awaitable[bool]]


async def poll(check: Check, *, timeout: float = 15.0, what: str = "condition", every: float = 0.05) -> None:
    """Wait until ``check()`` is true (a plain or an async check), without blocking the event loop;
    fail with ``what`` once ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        outcome = check()
        if inspect.isawaitable(outcome):
            outcome = await outcome
        if outcome:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(every)


def wait_until(check: Callable[[], bool], *, timeout: float = 10.0, what: str = "condition") -> None:
    """``poll`` for code that runs outside an event loop (threads, synchronous tests)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)
