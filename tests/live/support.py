"""A graphql-transport-ws client over a real websocket, and the served app the live tests talk to."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.helpers import Api
from tests.support.polling import poll
from tests.support.scrape import scrape

SUBSCRIBE = """
subscription($input: AuditTrailEntryAddedInput!) {
  auditTrailEntryAdded(input: $input) { id action actor { username } body }
}
"""
RECORD = """
mutation($events: [AuditTrailEventInput!]!) { auditTrailRecordEvents(events: $events) { id } }
"""


@dataclass
class Closed:
    code: int
    reason: str


class LiveClient:
    """One websocket, initialised with a token; ``subscribe`` starts an operation, ``next_message`` reads."""

    def __init__(self, websocket: ClientConnection) -> None:
        self.websocket = websocket
        self._ids = itertools.count(1)

    async def init(self, payload: dict[str, Any] | None) -> dict[str, Any] | Closed:
        """``connection_init`` with ``payload`` (None: a message without one): the ``connection_ack``,
        or how the server closed."""
        message: dict[str, Any] = {"type": "connection_init"}
        if payload is not None:
            message["payload"] = payload
        await self.websocket.send(orjson.dumps(message).decode())
        return await self.next_message()

    async def subscribe(self, input_value: dict[str, Any], query: str = SUBSCRIBE) -> str:
        operation_id = str(next(self._ids))
        message = {
            "id": operation_id,
            "type": "subscribe",
            "payload": {"query": query, "variables": {"input": input_value}},
        }
        await self.websocket.send(orjson.dumps(message).decode())
        return operation_id

    async def send_subscribe(self, operation_id: str, payload: dict[str, Any]) -> None:
        """A ``subscribe`` message with this id and payload (query, variables, operationName) as given."""
        await self.websocket.send(orjson.dumps({"id": operation_id, "type": "subscribe", "payload": payload}).decode())

    async def next_frame(self, timeout: float = 15.0) -> str | Closed:
        """The next message exactly as the server sent it, or how the server closed."""
        try:
            raw = await asyncio.wait_for(self.websocket.recv(), timeout)
        except ConnectionClosed as closed:
            received = closed.rcvd
            return Closed(received.code if received else 1006, received.reason if received else "")
        assert isinstance(raw, str), "graphql-transport-ws messages are text frames"
        return raw

    async def next_message(self, timeout: float = 15.0) -> dict[str, Any] | Closed:
        raw = await self.next_frame(timeout)
        if isinstance(raw, Closed):
            return raw
        decoded: dict[str, Any] = orjson.loads(raw)
        return decoded

    async def entries(self, count: int, timeout: float = 15.0) -> list[dict[str, Any]]:
        """The next ``count`` entries pushed (any operation); fails on anything else."""
        found: list[dict[str, Any]] = []
        while len(found) < count:
            message = await self.next_message(timeout)
            assert isinstance(message, dict) and message["type"] == "next", message
            assert "errors" not in message["payload"], message
            found.append(message["payload"]["data"]["auditTrailEntryAdded"])
        return found


@asynccontextmanager
async def live_client(base_url: str, token: str | None) -> AsyncIterator[LiveClient]:
    """A websocket to ``base_url``'s /graphql, acknowledged with ``token`` (the test asserts the ack)."""
    async with connect(base_url.replace("http", "ws", 1) + "/graphql", subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]  # websockets types subprotocols as a NewType of str
        client = LiveClient(ws)
        if token is not None:
            ack = await client.init({"Authorization": f"Bearer {token}"})
            assert isinstance(ack, dict) and ack["type"] == "connection_ack", ack
        yield client


async def wait_for_subscribers(client: httpx.AsyncClient, count: int) -> None:
    """Until the server counts ``count`` live subscribers (a subscribe has no acknowledgement of its own)."""

    async def reached() -> bool:
        return (await scrape(client, "/metrics")).value("audittrail_live_subscribers") >= count

    await poll(reached, what=f"{count} live subscribers")


async def record(api: Api, token: str, *actions: str, actor: str = "github::alice") -> list[str]:
    """Ingest one event per action in one call; their ids."""
    events = [{"action": action, "actor": actor, "eventType": "CREATE"} for action in actions]
    result = await api.gql(RECORD, {"events": events}, token=token)
    return [entry["id"] for entry in result.ok()["auditTrailRecordEvents"]]


async def ending(client: LiveClient) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Read until the subscription ends: its last error, and the entries pushed before it."""
    entries: list[dict[str, Any]] = []
    while True:
        message = await client.next_message()
        assert isinstance(message, dict), message
        if message["type"] == "next" and "errors" not in message["payload"]:
            entries.append(message["payload"]["data"]["auditTrailEntryAdded"])
            continue
        assert message["type"] in ("next", "error"), message
        errors = message["payload"]["errors"] if message["type"] == "next" else message["payload"]
        if message["type"] == "next":
            assert await client.next_message() == {"id": message["id"], "type": "complete"}
        return errors[0], entries
