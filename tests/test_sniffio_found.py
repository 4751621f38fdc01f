"""httpcore asks sniffio which event loop runs on every request (the worker's POSTs, verify-on-save).
Without sniffio installed each ask is a failed import that searches ``sys.path`` again: a tenth of the
worker's CPU per delivery.  The dependency is declared in pyproject.toml; this holds it there."""

from __future__ import annotations

import sys

from httpcore._synchronization import current_async_library


async def test_httpcore_finds_sniffio_instead_of_searching_sys_path_on_every_request() -> None:
    assert current_async_library() == "asyncio"
    assert "sniffio" in sys.modules
