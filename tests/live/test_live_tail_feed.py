"""The feed across processes and connections: every API process listens, and a dropped LISTEN
connection is listened again with what it missed caught up, the subscribers carrying on."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from sqlalchemy import text

from api.audit.record import EventDraft, now_ms, record_events
from api.db import Database
from api.models import EventType, Role
from api.settings import Settings
from tests.helpers import Api
from tests.live.conftest import BUFFER_EVENTS, Served
from tests.live.support import ending, live_client, record, wait_for_subscribers
from tests.support.polling import poll
from tests.support.processes import stop_process
from tests.support.scrape import scrape

LISTENERS = "SELECT pid FROM pg_stat_activity WHERE query ILIKE 'LISTEN%audit_events_added%'"


@asynccontextmanager
async def api_process(settings: Settings, data_dir: Path) -> AsyncIterator[str]:
    """The app in a uvicorn process of its own, on the suite's database and Redis; its base URL."""
    assert settings.secret_key is not None
    inherited = {name: value for name, value in os.environ.items() if not name.startswith("AUDITTRAIL_")}
    environment = {
        **inherited,
        "DATABASE_URL": settings.database_url or "",
        "REDIS_URL": settings.redis_url or "",
        "AUDITTRAIL_SECRET_KEY": settings.secret_key.get_secret_value(),
        "AUDITTRAIL_DATA_DIR": str(data_dir),
    }
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--port", str(port)],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url) as client:

            async def ready() -> bool:
                assert process.poll() is None, "the second API process exited at start"
                try:
                    return (await client.get("/readyz")).status_code == 200
                except httpx.HTTPError:
                    return False

            await poll(ready, timeout=60, what="the second API process")
        yield url
    finally:
        stop_process(process)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def terminate_listeners(db: Database) -> int:
    """End every LISTEN backend of the feed (waiting until each is gone); how many there were.  At
    least this test's app's; in a full run the backend of an API process or app that a previous test
    just stopped can still be listed for a moment (seen once in CI), so callers ask for one or more:
    what they then receive proves that their own feed was the one cut."""
    async with db.transaction() as session:
        pids = (await session.execute(text(LISTENERS))).scalars().all()
        for pid in pids:
            await session.execute(text("SELECT pg_terminate_backend(:pid, 10000)"), {"pid": pid})
    return len(pids)


async def record_unheard(db: Database, account_id: str, account_name: str, action: str, count: int = 1) -> list[str]:
    """Events written with triggers off: no NOTIFY, as if they committed while nobody listened."""
    moment = now_ms()
    drafts = [
        EventDraft(
            action=action,
            actor="github::alice",
            timestamp_ms=moment,
            event_type=EventType.CREATE,
            recorded_at_ms=moment,
        )
    ] * count
    async with db.transaction() as session:
        await session.execute(text("SET LOCAL session_replication_role = replica"))
        batch = await record_events(session, drafts, account_id=account_id, account_name=account_name, recorded_by=None)
    return [event.id for event in batch.events]


async def test_an_entry_recorded_through_one_api_process_reaches_a_subscriber_of_another(
    served: Served, settings: Settings, tmp_path: Path
) -> None:
    writer = await served.api.key("acme", Role.SERVICE)
    async with api_process(settings, tmp_path) as other_url, httpx.AsyncClient(base_url=other_url) as client:
        other = Api(client, served.api.db, settings)
        reader = await other.key("acme", Role.READER)  # a token for the other process's address
        async with live_client(other_url, reader.jwt) as subscriber:
            await subscriber.subscribe({})
            await wait_for_subscribers(client, 1)
            ids = await record(served.api, writer.jwt, "stack.create", "stack.delete")
            entries = await subscriber.entries(2)
    assert [entry["id"] for entry in entries] == ids


async def test_a_dropped_listen_connection_is_listened_again_and_what_it_missed_is_caught_up(served: Served) -> None:
    admin = await served.api.key("acme", Role.ADMIN)
    async with live_client(served.url, admin.jwt) as client:
        await client.subscribe({})
        await wait_for_subscribers(served.api.client, 1)
        before = await scrape(served.api.client, "/metrics")
        heard = await record(served.api, admin.jwt, "stack.heard")
        assert [entry["id"] for entry in await client.entries(1)] == heard
        unheard = await record_unheard(served.api.db, admin.account_id, admin.account_name, "stack.unheard")
        assert await terminate_listeners(served.api.db) >= 1
        later = await record(served.api, admin.jwt, "stack.later")
        # The unheard event comes back through the catch-up, before the later one; nothing twice.
        assert [entry["id"] for entry in await client.entries(2)] == [*unheard, *later]
        last = await record(served.api, admin.jwt, "stack.last")
        assert [entry["id"] for entry in await client.entries(1)] == last

        async def listening_again() -> bool:
            return len(await _listener_pids(served.api.db)) == 1

        await poll(listening_again, what="one LISTEN connection again")
        metrics = await scrape(served.api.client, "/metrics")
    for still in ("audittrail_live_subscribers_closed_total", "audittrail_live_subscribers"):
        assert metrics.value(still) == before.value(still), still  # none closed, the subscriber still open


async def _listener_pids(db: Database) -> list[int]:
    async with db.transaction() as session:
        return list((await session.execute(text(LISTENERS))).scalars().all())


async def test_a_gap_larger_than_the_buffer_closes_the_subscriber_with_the_reason(served: Served) -> None:
    admin = await served.api.key("acme", Role.ADMIN)
    async with live_client(served.url, admin.jwt) as client:
        await client.subscribe({})
        await wait_for_subscribers(served.api.client, 1)
        await record_unheard(served.api.db, admin.account_id, admin.account_name, "stack.unheard", BUFFER_EVENTS + 1)
        assert await terminate_listeners(served.api.db) >= 1
        error, entries = await ending(client)
    assert entries == []
    assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE"
    assert "search from the last entry received to catch up" in error["message"]
