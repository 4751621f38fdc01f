"""The webhook payload: the one function that decides its shape (docs/design.md, "Webhook payload")."""

from __future__ import annotations

from typing import Any

import orjson


def build_body(
    *,
    account_name: str,
    action: str,
    actor: str,
    context: dict[str, Any],
    data: dict[str, Any],
    remote_ip: str | None,
    timestamp_ms: int,
) -> str:
    """Compact UTF-8 JSON with exactly the documented keys, in the documented order."""
    payload = {
        "account": account_name,
        "action": action,
        "actor": actor,
        "context": context,
        "data": data,
        "remoteIP": remote_ip,
        "timestamp": timestamp_ms,
    }
    return orjson.dumps(payload).decode()
