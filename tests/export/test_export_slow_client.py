"""A client that reads slowly gets the whole export: the ``COPY`` is bounded by the database's progress
(each piece within the statement timeout), not by the statement timeout as a whole."""

from __future__ import annotations

import asyncio

import httpx

from api.app import create_app
from api.models import Role
from api.settings import Settings
from tests.helpers import Api
from tests.support.live_server import serving
from tests.test_audit_support import ago, draft, seed

EVENTS = 3_000
STATEMENT_TIMEOUT = 2.0


async def test_a_slow_reader_longer_than_the_statement_timeout_gets_every_line(
    api: Api, export_settings: Settings
) -> None:
    key = await api.key("acme", Role.READER, login=False)
    padding = {"pad": "x" * 8000}  # ~24 MB: far more than the socket buffers and the read-ahead hold
    for first in range(0, EVENTS, 1000):
        drafts = [draft(at=ago(seconds=n + 1), data=padding) for n in range(first, first + 1000)]
        await seed(api.db, key.account_id, drafts)
    slow_settings = export_settings.model_copy(update={"database_statement_timeout_seconds": STATEMENT_TIMEOUT})
    app = create_app(slow_settings)
    async with serving(app) as base_url, httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        live = Api(client, api.db, slow_settings)
        headers = {"Authorization": f"Bearer {await live.login(key.id, key.secret)}"}
        lines = 0
        paused = False
        async with client.stream("GET", "/export", headers=headers) as response:
            assert response.status_code == 200
            async for chunk in response.aiter_bytes():
                lines += chunk.count(b"\n")
                if not paused:
                    paused = True  # the slow reader: the COPY waits on it for three statement timeouts
                    await asyncio.sleep(3 * STATEMENT_TIMEOUT)
    assert lines == EVENTS + 1  # and the login
