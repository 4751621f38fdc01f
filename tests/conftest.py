"""Fixtures: one embedded PostgreSQL + Redis per test session, a clean database per test.

Nothing of ours is mocked: the app runs in-process over httpx's ASGI transport with its real
lifespan (database pool, arq queue), and tests that need the worker or a receiver start real ones.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis
from xdist.remote import Producer
from xdist.scheduler import LoadScopeScheduling

from api.app import create_app
from api.db import Database
from api.embedded import EmbeddedServers, start_servers
from api.migrate import upgrade_database
from api.settings import Settings
from tests.helpers import Api
from tests.receivers import Receiver, running_receiver, running_worker
from tests.support.databases import empty_tables
from tests.support.schedules import DIGEST_INTERVAL_SECONDS

TEST_SECRET_KEY = "test-service-secret-key-0123456789abcdef"
TABLES = "webhook_deliveries, webhooks, audit_events, api_keys, accounts"

OWN_PROCESS_TESTS = (
    "tests/reliability/",
    "tests/scaleout/",
    "tests/s3/test_receiver_digests.py",
    "tests/s3/test_receiver_e2e.py",
    "tests/test_bench_entry_points.py",
    "tests/test_delivery_sigkill.py",
    "tests/test_embedded_extra.py",
    "tests/test_readme_shell.py",
    "tests/test_serve_smoke.py",
    "tests/test_webhook_listen.py",
    "tests/test_worker_settings.py",
)
"""Tests that start servers, workers or whole stacks as processes of their own."""
BROWSER_TESTS = ("tests/console/",)


class WorkloadScheduling(LoadScopeScheduling):
    """pytest-xdist's scheduling for ``make test`` (``-n 3``): the tests that start processes of their
    own run one after another on one worker, and so do the browser tests; the other tests go a file at
    a time (module fixtures stay shared) to whichever worker is free.  Side by side on two cores the
    process-starting tests would starve each other past their deadlines, while the in-process tests
    mostly wait on their servers.  (xdist's ``xdist_group`` marks do not group under pytest 9.2.)"""

    def _split_scope(self, nodeid: str) -> str:
        path = nodeid.split("::", 1)[0]
        if path.startswith(OWN_PROCESS_TESTS):
            return "own-processes"
        if path.startswith(BROWSER_TESTS):
            return "browser"
        return path


def pytest_xdist_make_scheduler(config: pytest.Config, log: Producer) -> WorkloadScheduling:
    return WorkloadScheduling(config, log)


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServers]:
    data_dir = tmp_path_factory.mktemp("data")
    started = start_servers(data_dir, None, None)
    try:
        upgrade_database(started.database_url)
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="session")
def settings(servers: EmbeddedServers, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        database_url=servers.database_url,
        redis_url=servers.redis_url,
        secret_key=TEST_SECRET_KEY,
        data_dir=Path(tmp_path_factory.mktemp("appdata")),
        allow_private_endpoints=True,
        retry_schedule_seconds=[0.2, 0.4, 0.8],
        webhook_timeout_seconds=2.0,
        # Verify-on-save answers a mutation: room for a loaded CI machine (a late answer fails the save).
        verify_timeout_seconds=5.0,
        sweep_interval_seconds=1,
        digest_interval_seconds=DIGEST_INTERVAL_SECONDS,
        # The same room for statements: emptying between tests and requests of a loaded machine.  The
        # 4 s default is what tests/reliability (its own processes, default settings) holds to.
        database_statement_timeout_seconds=15.0,
    )


@pytest.fixture(scope="session")
async def db(settings: Settings) -> AsyncIterator[Database]:
    database = Database(settings.database_url or "", pool_size=4, timeouts=settings.database_timeouts)
    yield database
    await database.dispose()


@pytest.fixture(autouse=True)
async def clean_state(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Each test that touches the database starts from empty tables and an empty Redis."""
    if "db" not in request.fixturenames and "api" not in request.fixturenames:
        yield
        return
    settings: Settings = request.getfixturevalue("settings")
    database: Database = request.getfixturevalue("db")
    await empty_tables(database, TABLES)
    redis = Redis.from_url(settings.redis_url or "")
    await redis.flushall()
    await redis.aclose()
    yield


@pytest.fixture
async def app_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://audittrail.test") as client:
            yield client


@pytest.fixture
async def api(app_client: httpx.AsyncClient, db: Database, settings: Settings) -> Api:
    return Api(app_client, db, settings)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A real HTTP receiver on 127.0.0.1 recording raw bodies and headers; answers 200 unless scripted."""
    async with running_receiver() as started:
        yield started


@pytest.fixture
async def worker(settings: Settings, db: Database) -> AsyncIterator[None]:
    """The real arq worker (deliver, sweep, crons) running in the test's event loop."""
    async with running_worker(settings):
        yield
