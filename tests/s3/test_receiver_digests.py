"""End to end: the worker signs digests, delivers them as ``audit_trail.digest`` events beside the events,
the S3 receiver stores both, and ``verify --files`` checks the bucket's copy with the public key alone."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from api import integrity
from api.db import Database
from api.models import Role
from api.settings import Settings
from receivers.s3.app import create_app
from tests.helpers import Api
from tests.integrity.support import kinds
from tests.receivers import running_worker
from tests.s3.support import Bucket, serve_in_thread
from tests.support.polling import poll

SET_WEBHOOK = "mutation($input: AuditTrailWebhookInput!) { auditTrailSetWebhook(input: $input) { enabled } }"
RECORD_EVENTS = "mutation($events: [AuditTrailEventInput!]!) { auditTrailRecordEvents(events: $events) { id } }"


@pytest.fixture
async def digesting_worker(settings: Settings, db: Database) -> AsyncIterator[None]:
    """The real worker, digesting one-second intervals."""
    fast = settings.model_copy(update={"digest_interval_seconds": 1, "digest_grace_seconds": 0.3})
    async with running_worker(fast):
        yield


def download(bucket: Bucket, directory: Path) -> Path:
    """The bucket's objects as files under their keys, as `aws s3 sync` would leave them."""
    for key, body in bucket.objects().items():
        path = directory / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
    return directory


def listed_by_digests(directory: Path) -> set[str]:
    listed = set()
    for path in directory.rglob("*.json"):
        body = orjson.loads(path.read_bytes())
        if body["action"] == "audit_trail.digest":
            listed |= {event_id for event_id, _ in body["data"]["events"]}
    return listed


@pytest.mark.slow
async def test_bucket_copy_with_delivered_digests_verifies_and_shows_a_deleted_object(
    api: Api, digesting_worker: None, bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    admin = await api.key("acme", Role.ADMIN)
    keys = {
        key.key_id: key
        for key in integrity.load_public_keys(integrity.KeyRing.from_settings(settings).signing_key.public.pem)
    }
    with serve_in_thread(create_app(bucket.config(secret="digests-e2e-secret"))) as receiver_url:
        webhook = {"enabled": True, "endpoint": receiver_url + "/", "secret": "digests-e2e-secret"}
        assert (await api.gql(SET_WEBHOOK, {"input": webhook}, token=admin.jwt)).ok()
        # The copy starts with the webhook: verify it from the first whole interval after that.
        copy_starts = datetime.fromtimestamp(int(time.time()) + 1, UTC)
        await poll(lambda: datetime.now(UTC) > copy_starts, what="the copy's first interval to begin")
        events = [
            {"action": "stack.update", "actor": "github::alice", "eventType": "UPDATE", "data": {"n": n}}
            for n in range(20)
        ]
        recorded = (await api.gql(RECORD_EVENTS, {"events": events}, token=admin.jwt)).ok()
        recorded_ids = {entry["id"] for entry in recorded["auditTrailRecordEvents"]}
        # A fixed end: each new digest lists the digest events before it, which may still be on their
        # way to the bucket; the intervals up to that end settle once their deliveries have landed.
        checked = integrity.TimeRange(start=copy_starts, end=datetime.fromtimestamp(int(time.time()) + 3, UTC))
        attempt = iter(range(1000))

        def copy_verifies() -> bool:
            directory = download(bucket, tmp_path / f"copy-{next(attempt)}")
            report = integrity.verify_files(directory, keys, checked)
            return recorded_ids <= listed_by_digests(directory) and report.is_clean and report.digests_checked >= 2

        await poll(copy_verifies, timeout=180, what="the digests covering the events to land and verify", every=0.5)

    final = download(bucket, tmp_path / "final")
    deleted = sorted(recorded_ids)[7]
    next(final.rglob(f"*-{deleted}.json")).unlink()
    report = integrity.verify_files(final, keys, checked)
    assert kinds(report) == [("MISSING", deleted)]
