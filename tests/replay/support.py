"""Replays driven through GraphQL, and what the receiver got per event."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from tests.helpers import Api, Key
from tests.receivers import ReceivedRequest
from tests.support.polling import poll

REPLAY = """mutation($input: AuditTrailReplayInput!) { auditTrailReplay(input: $input) {
  id status from to total enqueued delivered failed pending createdAt finishedAt } }"""
REPLAYS = "{ auditTrailReplays { id status total enqueued delivered failed pending finishedAt } }"
CANCEL = "mutation($id: ID!) { auditTrailCancelReplay(id: $id) { id status failed pending finishedAt } }"


def replay_input(start: datetime, end: datetime, **fields: Any) -> dict[str, Any]:
    return {"input": {"from": start.isoformat(), "to": end.isoformat(), **fields}}


async def replays(api: Api, key: Key) -> list[dict[str, Any]]:
    return list((await api.gql(REPLAYS, token=key.jwt)).ok()["auditTrailReplays"])


async def wait_until_finished(api: Api, key: Key, replay_id: str, timeout: float = 60) -> dict[str, Any]:
    async def finished() -> bool:
        return any(r["id"] == replay_id and r["status"] == "FINISHED" for r in await replays(api, key))

    await poll(finished, timeout=timeout, what=f"replay {replay_id} to finish")
    return next(r for r in await replays(api, key) if r["id"] == replay_id)


def event_ids(requests: list[ReceivedRequest]) -> Counter[str]:
    """How many times each event arrived (by ``X-Audit-Event-Id``)."""
    return Counter(request.header("X-Audit-Event-Id") or "" for request in requests)
