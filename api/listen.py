"""``audittrail listen``: a local webhook receiver that prints each delivery and checks its signatures.

One line per delivery on stdout (or one JSON object with ``--json``), so scripts can read it; the
exit code is 1 when any delivery's signatures did not verify.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import TextIO

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from api.webhooks.signing import check_signatures

MAX_BODY_BYTES = 1_000_000


@dataclass
class ListenState:
    secret: str
    count: int | None
    as_json: bool
    output: TextIO
    show_headers: bool = False
    hints: TextIO = field(default=sys.stderr, repr=False)
    received: int = 0
    failed: int = 0
    server: uvicorn.Server | None = field(default=None, repr=False)

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0


SIGNATURE_HEADERS = ("x-signature", "x-signature-256", "webhook-signature")


def _describe(state: ListenState, body_bytes: bytes, headers: dict[str, str], failed: list[str]) -> str:
    try:
        payload = orjson.loads(body_bytes)
    except orjson.JSONDecodeError:
        payload = {}
    if not isinstance(payload, dict):
        payload = {}
    facts = {
        "action": payload.get("action"),
        "actor": payload.get("actor"),
        "account": payload.get("account"),
        "eventId": headers.get("x-audit-event-id"),
        "deliveryId": headers.get("x-audit-delivery-id"),
        "attempt": headers.get("x-audit-attempt"),
        "signatures": "FAILED" if failed else "ok",
    }
    if state.as_json:
        shown: dict[str, object] = {**facts, "failed": failed}
        if state.show_headers:
            shown["headers"] = headers
        return orjson.dumps({**shown, "body": payload}).decode()
    line = (
        f"{facts['action']} actor={facts['actor']} event={facts['eventId']}"
        f" delivery={facts['deliveryId']} attempt={facts['attempt']} signatures={facts['signatures']}"
    )
    if failed:
        line += f" failed={','.join(failed)}"
    if state.show_headers:
        line += "".join(f"\n  {name}: {value}" for name, value in headers.items())
    return line


def signature_hint(headers: dict[str, str], failed: list[str]) -> str:
    """What a failed check most likely means, for the person running the listener."""
    if not any(name in headers for name in SIGNATURE_HEADERS):
        return (
            "hint: the delivery carries no signature headers: the webhook has no secret."
            " Set one (auditTrailSetWebhook's secret) and give the same to --secret."
        )
    return (
        f"hint: {', '.join(failed)} did not verify: the webhook was saved with another secret than --secret."
        " Restart listen with --secret <the webhook's secret> (or save the webhook with this one)."
    )


def build_listener(state: ListenState) -> Starlette:
    """The receiver app: any POST path is a delivery; 200 when the signatures verify, 401 when not."""

    async def receive(request: Request) -> Response:
        body_bytes = await request.body()
        if len(body_bytes) > MAX_BODY_BYTES:
            return JSONResponse({"error": "body too large"}, status_code=413)
        headers = {name.lower(): value for name, value in request.headers.items()}
        failed = check_signatures(secret=state.secret, body_bytes=body_bytes, headers=headers).failed
        state.received += 1
        print(_describe(state, body_bytes, headers, failed), file=state.output, flush=True)
        if failed:
            if not state.failed:  # once: a wrong secret fails every delivery the same way
                print(signature_hint(headers, failed), file=state.hints, flush=True)
            state.failed += 1
        if state.count is not None and state.received >= state.count and state.server is not None:
            state.server.should_exit = True
        if failed:
            return JSONResponse({"ok": False, "invalid": failed}, status_code=401)
        return JSONResponse({"ok": True})

    return Starlette(routes=[Route("/{path:path}", receive, methods=["POST"])])


def run_listener(
    *,
    host: str,
    port: int,
    secret: str,
    count: int | None,
    as_json: bool,
    show_headers: bool = False,
    output: TextIO = sys.stdout,
) -> int:
    """Serve until ``count`` deliveries arrived (or Ctrl-C); returns the exit code."""
    state = ListenState(secret=secret, count=count, as_json=as_json, output=output, show_headers=show_headers)
    config = uvicorn.Config(build_listener(state), host=host, port=port, log_level="warning", access_log=False)
    state.server = uvicorn.Server(config)
    print(f"listening on http://{host}:{port}/ for signed deliveries", file=sys.stderr, flush=True)
    state.server.run()
    return state.exit_code
