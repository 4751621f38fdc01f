"""An app whose exports read in small batches, so a few thousand events cross many batch boundaries."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from api.app import create_app
from api.db import Database
from api.settings import Settings
from tests.helpers import Api

BATCH_SIZE = 300


@pytest.fixture
def export_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"export_batch_size": BATCH_SIZE})


@pytest.fixture
async def api(export_settings: Settings, db: Database) -> AsyncIterator[Api]:
    app = create_app(export_settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://audittrail.test", timeout=60) as client:
            yield Api(client, db, export_settings)
