"""Replays with small batches and small limits (redelivering failed deliveries too), and the real
worker running with the same settings."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from api.app import create_app
from api.db import Database
from api.settings import Settings
from tests.helpers import Api
from tests.receivers import running_worker

BATCH_SIZE = 20
MAX_EVENTS = 400
REDELIVER_FAILED_MAX = 5


@pytest.fixture
def replay_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "replay_batch_size": BATCH_SIZE,
            "replay_max_events": MAX_EVENTS,
            "redeliver_failed_max": REDELIVER_FAILED_MAX,
            # These tests count deliveries exactly with retries off: the suite's 2 s let a loaded CI
            # machine time out 3 answers of the in-test receiver (20 ms each) in one run.
            "webhook_timeout_seconds": 10.0,
        }
    )


@pytest.fixture
async def api(replay_settings: Settings, db: Database) -> AsyncIterator[Api]:
    app = create_app(replay_settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://audittrail.test", timeout=60) as client:
            yield Api(client, db, replay_settings)


@pytest.fixture
async def worker(replay_settings: Settings, db: Database) -> AsyncIterator[None]:
    async with running_worker(replay_settings):
        yield
