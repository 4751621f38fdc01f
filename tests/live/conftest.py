"""The app served by uvicorn (websockets need a real server), and a client of its HTTP side."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
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


@asynccontextmanager
async def served_app(settings: Settings, db: Database) -> AsyncIterator[Served]:
    async with serving(create_app(settings)) as url, httpx.AsyncClient(base_url=url, timeout=60) as client:
        yield Served(url, Api(client, db, settings))


@pytest.fixture
async def served(settings: Settings, db: Database) -> AsyncIterator[Served]:
    """A small buffer, so that tests can fill it."""
    async with served_app(settings.model_copy(update={"live_buffer_events": BUFFER_EVENTS}), db) as started:
        yield started


@pytest.fixture
async def served_default(settings: Settings, db: Database) -> AsyncIterator[Served]:
    """The default buffer (1,000 events), as deployed."""
    async with served_app(settings, db) as started:
        yield started
