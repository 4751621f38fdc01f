"""A fast webhook receiver for the delivery benchmarks: 204 for every POST, and what it saw.

``POST /<anything>``: counted, its ``X-Audit-Delivery-Id`` stamped with the wall-clock time of its first receipt.
``GET /stats``: ``{"count", "first", "last"}`` (unix seconds).  ``GET /receipts``: ``{delivery id: time}``.
``POST /reset`` (path exactly): forget everything.  A bare ASGI app, so the receiver is never the bottleneck.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

_state: dict[str, Any] = {"count": 0, "first": None, "last": None}
_receipts: dict[str, float] = {}


async def _drain(receive: Any) -> None:
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)


async def _answer(send: Any, status: int, body: bytes = b"") -> None:
    headers = [(b"content-type", b"application/json")] if body else []
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    path, method = scope["path"], scope["method"]
    if method == "GET" and path == "/stats":
        await _answer(send, 200, orjson.dumps(_state))
    elif method == "GET" and path == "/receipts":
        await _answer(send, 200, orjson.dumps(_receipts))
    elif method == "POST" and path == "/reset":
        _state.update(count=0, first=None, last=None)
        _receipts.clear()
        await _answer(send, 204)
    else:
        await _drain(receive)
        now = time.time()
        _state["count"] += 1
        _state["first"] = _state["first"] or now
        _state["last"] = now
        for name, value in scope["headers"]:
            if name == b"x-audit-delivery-id":
                _receipts.setdefault(value.decode(), now)  # the first receipt; a redelivery is not news
        await _answer(send, 204)
