"""End to end: the service records events, the worker delivers them, the S3 receiver stores them.

Everything is real: the API in-process, the arq worker on the embedded Redis, the receiver app
under uvicorn on 127.0.0.1, and moto's S3 API server on 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from starlette.types import ASGIApp, Receive, Scope, Send

from api.db import Database
from api.models import Role
from receivers.s3.app import create_app
from tests.helpers import Api
from tests.s3.support import Bucket, serve_in_thread
from tests.support.polling import poll

WEBHOOK_SECRET = "e2e-webhook-secret-3f9c"
EVENT_COUNT = 100

SET_WEBHOOK = """
mutation($input: AuditTrailWebhookInput!) { auditTrailSetWebhook(input: $input) { enabled endpoint } }
"""
RECORD_EVENTS = """
mutation($events: [AuditTrailEventInput!]!) { auditTrailRecordEvents(events: $events) { id } }
"""


class SignatureLog:
    """ASGI wrapper in front of the receiver: keeps the X-Signature-256 each event arrived with."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.by_event_id: dict[str, str] = {}
        self._lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
            with self._lock:
                self.by_event_id[headers.get("x-audit-event-id", "")] = headers.get("x-signature-256", "")
        await self.app(scope, receive, send)


async def stored_events(db: Database) -> dict[str, bytes]:
    """Every event the service recorded: id -> the exact body it signs and sends."""
    async with db.transaction() as session:
        rows = (await session.execute(text("SELECT id, body FROM audit_events"))).all()
    return {str(row.id): str(row.body).encode() for row in rows}


def expected_key(event_id: str, body_bytes: bytes) -> str:
    payload = json.loads(body_bytes)
    date = datetime.fromtimestamp(payload["timestamp"] / 1000, UTC).strftime("%Y-%m-%d")
    return f"audittrail/account={payload['account']}/date={date}/{payload['timestamp']}-{event_id}.json"


def key_event_id(key: str) -> str:
    """``…/<timestamp>-<event id>.json`` -> the event id (ULIDs hold no '-')."""
    return key.rsplit("-", 1)[1].removesuffix(".json")


def stored_event_ids(bucket: Bucket) -> set[str]:
    return {key_event_id(key) for key in bucket.object_keys()}


@pytest.mark.slow
async def test_worker_delivers_100_events_that_land_in_s3_byte_identical(
    api: Api, db: Database, worker: None, bucket: Bucket
) -> None:
    admin = await api.key("acme", Role.ADMIN)
    signatures = SignatureLog(create_app(bucket.config(secret=WEBHOOK_SECRET)))
    now_ms = int(time.time() * 1000)
    events = [
        {
            "action": "stack.update",
            "actor": "github::alice",
            "eventType": "UPDATE",
            "data": {"n": n},
            "timestamp": now_ms - n,
        }
        for n in range(EVENT_COUNT)
    ]
    with serve_in_thread(signatures) as receiver_url:
        webhook = {"enabled": True, "endpoint": receiver_url + "/", "secret": WEBHOOK_SECRET}
        assert (await api.gql(SET_WEBHOOK, {"input": webhook}, token=admin.jwt)).ok()
        recorded = (await api.gql(RECORD_EVENTS, {"events": events}, token=admin.jwt)).ok()
        recorded_ids = {entry["id"] for entry in recorded["auditTrailRecordEvents"]}

        async def all_landed() -> bool:
            return recorded_ids <= stored_event_ids(bucket)

        await poll(all_landed, timeout=45, what=f"{EVENT_COUNT} events to land in S3")

    bodies = await stored_events(db)
    objects = bucket.objects()
    assert len(recorded_ids) == EVENT_COUNT
    # Besides the 100, the set mutation's own payload landed (verify-on-save), and nothing else.
    actions = sorted(json.loads(body)["action"] for body in objects.values())
    assert actions == ["audit_trail_webhook.set"] + ["stack.update"] * EVENT_COUNT
    # Every object is the exact body the service recorded and signed, under its documented key.
    expected = {expected_key(event_id, body): body for event_id, body in bodies.items()}
    assert objects.keys() <= expected.keys()
    assert objects == {key: expected[key] for key in objects}
    assert {expected_key(event_id, bodies[event_id]) for event_id in recorded_ids} <= objects.keys()
    for event_id in recorded_ids:
        signed = "sha256=" + hmac.new(WEBHOOK_SECRET.encode(), bodies[event_id], hashlib.sha256).hexdigest()
        assert signatures.by_event_id[event_id] == signed
