"""The app served by uvicorn (websockets need a real server), and a client of its HTTP side."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from api.app import create_app
from api.db import Database
from api.settings import Settings
from tests.helpers import Api
from tests.support.live_server import serving

BUFFER_EVENTS = 200


@dataclass
class Served:
    url: str
    api: Api


@pytest.fixture
async def served(settings: Settings, db: Database) -> AsyncIterator[Served]:
    live_settings = settings.model_copy(update={"live_buffer_events": BUFFER_EVENTS})
    async with serving(create_app(live_settings)) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
        yield Served(url, Api(client, db, live_settings))
