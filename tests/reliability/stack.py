"""A whole service on this machine for the reliability suite: its own embedded PostgreSQL and Redis,
the API as a real uvicorn process, workers as real ``audittrail worker`` processes.

Everything listens on unix sockets or 127.0.0.1.  Outbound webhook traffic to anything but
loopback goes to a dead proxy on 127.0.0.1, so a fuzzer that invents endpoints reaches nobody.
Every process logs to a file under ``logs/`` and every GraphQL response the suite sees is kept,
so that the secrets test can grep all of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
from sqlalchemy import text

from api.accounts import accounts as account_store
from api.accounts import keys as key_store
from api.cli import API_KEEP_ALIVE_SECONDS
from api.db import Database
from api.embedded import EmbeddedPostgres, EmbeddedRedis
from api.migrate import upgrade_database
from api.models import Role
from tests.support.processes import stop_process
from tests.support.schedules import DIGEST_INTERVAL_SECONDS

# Recognizable values that must never come back in a response, a log line or a table dump.
CANARY_WEBHOOK_SECRET = "whsec-CANARY-7f3e9d1c5a-never-shown"
CANARY_HEADER_VALUE = "hdr-CANARY-b52a41e0c7-never-shown"
CANARY_SERVICE_KEY = "svc-CANARY-0d9e8f7a6b5c4d3e2f1a-never-shown"
CANARY_HEADER_NAME = "X-Tenant-Token"

# Fast enough that a 50 % failure rate settles within seconds; long enough that no delivery runs out
# of attempts by bad luck (0.5 ** 31 per delivery).
FAST_RETRY_SCHEDULE = [0.2, 0.5] + [1.0] * 28
WEBHOOK_TIMEOUT_SECONDS = 1.0
AUDITTRAIL = Path(sys.executable).parent / "audittrail"
TABLES = ("accounts", "api_keys", "audit_events", "webhooks", "webhook_deliveries")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Tenant:
    """An account with one logged-in key per role."""

    name: str
    account_id: str
    tokens: dict[Role, str] = field(default_factory=dict)
    key_ids: dict[Role, str] = field(default_factory=dict)


@dataclass
class Stack:
    root: Path
    postgres: EmbeddedPostgres
    redis: EmbeddedRedis
    port: int
    dead_proxy_port: int
    api_process: subprocess.Popen[bytes] | None = None
    api_starts: int = 0
    key_secrets: list[str] = field(default_factory=list)
    """Every API key secret the suite created: allowed in the apiKeyCreate answer only."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def database_url(self) -> str:
        return self.postgres.url

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def responses_file(self) -> Path:
        return self.logs / "graphql-responses.jsonl"

    def environment(self, **extra: str) -> dict[str, str]:
        """The environment of our processes: these servers, the canary service key, a fast schedule."""
        inherited = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith("AUDITTRAIL_")
            and name.upper() not in {"DATABASE_URL", "REDIS_URL", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"}
        }
        dead_proxy = f"http://127.0.0.1:{self.dead_proxy_port}"
        return {
            **inherited,
            "DATABASE_URL": self.postgres.url,
            "REDIS_URL": self.redis.url,
            "AUDITTRAIL_SECRET_KEY": CANARY_SERVICE_KEY,
            "AUDITTRAIL_DATA_DIR": str(self.root / "appdata"),
            "AUDITTRAIL_ALLOW_PRIVATE_ENDPOINTS": "true",
            "AUDITTRAIL_RETRY_SCHEDULE_SECONDS": orjson.dumps(FAST_RETRY_SCHEDULE).decode(),
            "AUDITTRAIL_WEBHOOK_TIMEOUT_SECONDS": str(WEBHOOK_TIMEOUT_SECONDS),
            "AUDITTRAIL_VERIFY_TIMEOUT_SECONDS": "2",
            "AUDITTRAIL_SWEEP_INTERVAL_SECONDS": "1",
            "AUDITTRAIL_DIGEST_INTERVAL_SECONDS": str(DIGEST_INTERVAL_SECONDS),
            "AUDITTRAIL_WORKER_MAX_JOBS": "25",
            "AUDITTRAIL_LOG_LEVEL": "DEBUG",
            # The fuzzers send wrong apiKeyUser logins by the hundred from this one address; at the
            # default 20 failures per 5 minutes, every later test's own logins were refused
            # (tests/test_login_limits.py tests the limit itself).
            "AUDITTRAIL_LOGIN_FAILURES_PER_ADDRESS": "1000000",
            "HTTP_PROXY": dead_proxy,
            "HTTPS_PROXY": dead_proxy,
            "ALL_PROXY": dead_proxy,
            "NO_PROXY": "127.0.0.1,localhost",
            **extra,
        }

    # -- processes --------------------------------------------------------------------------

    def start_api(self, ready_path: str = "/readyz") -> None:
        """uvicorn with the app factory, as ``audittrail serve`` runs it; waits for ``ready_path`` to say 200."""
        self.api_starts += 1
        log_path = self.logs / f"api-{self.api_starts}.log"
        with log_path.open("ab") as log:
            self.api_process = subprocess.Popen(
                [
                    *(sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--host", "127.0.0.1"),
                    *("--port", str(self.port), "--log-level", "debug", "--no-proxy-headers"),
                    *("--timeout-keep-alive", str(API_KEEP_ALIVE_SECONDS)),
                ],
                env=self.environment(),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.api_process.poll() is not None:
                raise AssertionError(f"the API exited at start:\n{log_path.read_text()[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}{ready_path}", timeout=2).status_code == 200:
                    return
            time.sleep(0.1)
        raise AssertionError(f"the API was not ready within 60 s:\n{log_path.read_text()[-3000:]}")

    def stop_api(self) -> None:
        if self.api_process is not None:
            stop_process(self.api_process)
            self.api_process = None

    def api_is_alive(self) -> bool:
        return self.api_process is not None and self.api_process.poll() is None

    def start_worker(self, name: str, **settings: str) -> subprocess.Popen[bytes]:
        """``audittrail worker`` in a process of its own (a session of its own: SIGKILL hits it alone),
        with ``settings`` (``AUDITTRAIL_...`` variables) over the suite's."""
        with (self.logs / f"worker-{name}.log").open("ab") as log:
            return subprocess.Popen(
                [str(AUDITTRAIL), "worker"],
                env=self.environment(**settings),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    # -- faults -----------------------------------------------------------------------------

    async def stop_postgres(self) -> None:
        await asyncio.to_thread(self.postgres.stop)

    async def start_postgres(self) -> None:
        """Start the same cluster again (same socket, same URL): what a database restart looks like."""
        from pgserver.postgres_server import PostgresServer

        server = PostgresServer._instances[self.postgres.pgdata]

        def start() -> None:
            with server._lock:
                server.ensure_postgres_running()

        await asyncio.to_thread(start)

    async def stop_redis(self) -> None:
        await asyncio.to_thread(self.redis.stop)

    async def start_redis(self) -> None:
        """On the same socket, with the data it saved when it stopped."""
        self.redis = await asyncio.to_thread(EmbeddedRedis.start, self.redis.directory)

    async def restart_redis(self) -> None:
        """SIGTERM (it saves its data) and start on the same socket."""

        def restart() -> None:
            self.redis.stop()
            self.redis = EmbeddedRedis.start(self.redis.directory)

        await asyncio.to_thread(restart)

    # -- clients ----------------------------------------------------------------------------

    def record_response(self, response_text: str) -> None:
        with self.responses_file.open("a") as out:
            out.write(response_text.replace("\n", " ") + "\n")

    async def gql(
        self,
        client: httpx.AsyncClient,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """POST /graphql; the response is kept for the secrets scan."""
        all_headers = dict(headers or {})
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        response = await client.post(
            f"{self.url}/graphql", json={"query": query, "variables": variables or {}}, headers=all_headers
        )
        self.record_response(response.text)
        return response

    async def tenant(self, name: str, roles: tuple[Role, ...] = tuple(Role)) -> Tenant:
        """An account (created if new) with a fresh key of each role, logged in through the API."""
        db = Database(self.database_url, pool_size=1)
        try:
            async with db.transaction() as session:
                account = await account_store.find_account(session, name) or await account_store.create_account(
                    session, name, retention_days=30
                )
                created = {
                    role: await key_store.create_key(session, account.id, f"{role.value.lower()} key", role)
                    for role in roles
                }
        finally:
            await db.dispose()
        tenant = Tenant(name=name, account_id=account.id)
        async with httpx.AsyncClient(timeout=30) as client:
            for role, key in created.items():
                self.key_secrets.append(key.secret)
                response = await self.gql(
                    client,
                    "mutation($id: ID!, $secret: String!) { apiKeyUser(id: $id, secret: $secret) { jwt } }",
                    {"id": key.key.id, "secret": key.secret},
                )
                answer = response.json()
                if not (answer.get("data") or {}).get("apiKeyUser"):
                    raise AssertionError(f"the {role.value} key of {name} could not log in: {answer}")
                tenant.tokens[role] = answer["data"]["apiKeyUser"]["jwt"]
                tenant.key_ids[role] = key.key.id
        return tenant

    async def table_dump(self) -> dict[str, list[str]]:
        """Every row of every table, as PostgreSQL prints it."""
        db = Database(self.database_url, pool_size=1)
        try:
            async with db.transaction() as session:
                dump: dict[str, list[str]] = {}
                for table in TABLES:
                    rows = await session.execute(text(f"SELECT t::text FROM {table} t"))
                    dump[table] = [str(row) for row in rows.scalars()]
                return dump
        finally:
            await db.dispose()

    def log_files(self) -> list[Path]:
        """Our processes' logs, PostgreSQL's and Redis' logs."""
        found = sorted(self.logs.glob("*.log"))
        found += [path for path in (self.postgres.pgdata / "log", self.redis.directory / "redis.log") if path.exists()]
        return found


def start_stack(root: Path) -> Stack:
    """PostgreSQL and Redis of our own, migrated, and the API running."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "logs").mkdir(exist_ok=True)
    postgres = EmbeddedPostgres.start(root / "pg")
    try:
        redis = EmbeddedRedis.start(root / "redis")
    except Exception:
        postgres.stop()
        raise
    stack = Stack(root=root, postgres=postgres, redis=redis, port=free_port(), dead_proxy_port=free_port())
    try:
        upgrade_database(postgres.url)
        stack.start_api()
    except Exception:
        stop_stack(stack)
        raise
    return stack


def stop_stack(stack: Stack) -> None:
    stack.stop_api()
    stack.redis.stop()
    stack.postgres.stop()
