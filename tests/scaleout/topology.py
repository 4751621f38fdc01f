"""N API processes and M worker processes against separate servers, each with a log file of its own.

The APIs share one ``PROMETHEUS_MULTIPROC_DIR`` (as ``audittrail serve --workers N`` sets up), the
workers another: a scrape of any API sums the APIs, a scrape of any worker sums the workers.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson

from api.accounts import accounts as account_store
from api.accounts import keys as key_store
from api.db import Database
from api.models import Role
from tests.reliability.stack import free_port
from tests.support.processes import stop_process
from tests.support.schedules import DIGEST_INTERVAL_SECONDS

AUDITTRAIL = Path(sys.executable).parent / "audittrail"
SECRET_KEY = "scaleout-service-secret-key-0123456789abcdef"
RETRY_SCHEDULE = [0.2, 0.5] + [1.0] * 28
"""Fast, and long enough that no delivery runs out of attempts against a receiver failing a third."""
PUBLIC_URL = "http://audittrail.scaleout.test"
WEBHOOK_TIMEOUT_SECONDS = 1.0
"""The send timeout: a claimed attempt's lease is three of it."""


@dataclass
class Topology:
    root: Path
    database_url: str
    redis_url: str
    apis: list[tuple[subprocess.Popen[bytes], int]] = field(default_factory=list)
    workers: list[tuple[subprocess.Popen[bytes], int]] = field(default_factory=list)

    @property
    def api_urls(self) -> list[str]:
        return [f"http://127.0.0.1:{port}" for _, port in self.apis]

    @property
    def worker_metrics_urls(self) -> list[str]:
        return [f"http://127.0.0.1:{port}/metrics" for process, port in self.workers if process.poll() is None]

    def environment(self, role: str, **settings: str) -> dict[str, str]:
        """A process's environment: the separate servers by URL, nothing embedded, fast retries."""
        inherited = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("AUDITTRAIL_", "OTEL_", "PROMETHEUS_"))
            and name.upper() not in {"DATABASE_URL", "REDIS_URL"}
        }
        metrics_dir = self.root / f"prometheus-{role}"
        metrics_dir.mkdir(exist_ok=True)
        return {
            **inherited,
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
            "AUDITTRAIL_SECRET_KEY": SECRET_KEY,
            # The address clients use for every API process (as behind a load balancer): a token is
            # issued for it, so a token from one process is good at the other.
            "AUDITTRAIL_PUBLIC_URL": PUBLIC_URL,
            "AUDITTRAIL_DATA_DIR": str(self.root / "appdata"),
            "AUDITTRAIL_ALLOW_PRIVATE_ENDPOINTS": "true",
            "AUDITTRAIL_RETRY_SCHEDULE_SECONDS": orjson.dumps(RETRY_SCHEDULE).decode(),
            "AUDITTRAIL_WEBHOOK_TIMEOUT_SECONDS": str(WEBHOOK_TIMEOUT_SECONDS),
            "AUDITTRAIL_SWEEP_INTERVAL_SECONDS": "1",
            "AUDITTRAIL_DIGEST_INTERVAL_SECONDS": str(DIGEST_INTERVAL_SECONDS),
            "AUDITTRAIL_WORKER_MAX_JOBS": "25",
            "AUDITTRAIL_LOG_LEVEL": "WARNING",
            **{f"AUDITTRAIL_{name.upper()}": value for name, value in settings.items()},
        }

    def start_api(self) -> None:
        """One more API process (uvicorn with the app factory, as ``audittrail serve`` runs it)."""
        port = free_port()
        with (self.root / f"api-{len(self.apis)}.log").open("ab") as log:
            process = subprocess.Popen(
                [
                    *(sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory"),
                    *("--host", "127.0.0.1", "--port", str(port), "--no-access-log", "--log-level", "warning"),
                ],
                env=self.environment("api"),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.apis.append((process, port))

    def start_worker(self, **settings: str) -> subprocess.Popen[bytes]:
        """One more ``audittrail worker``, its metrics on a port of its own, in a session of its own."""
        port = free_port()
        with (self.root / f"worker-{len(self.workers)}.log").open("ab") as log:
            process = subprocess.Popen(
                [str(AUDITTRAIL), "worker"],
                env=self.environment("worker", worker_metrics_port=str(port), **settings),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.workers.append((process, port))
        return process

    def wait_until_serving(self, timeout: float = 90) -> None:
        """Every API answers /readyz 200 and every worker its metrics port."""
        deadline = time.monotonic() + timeout
        pending = [f"{url}/readyz" for url in self.api_urls] + self.worker_metrics_urls
        while pending:
            for process, _ in self.apis + self.workers:
                assert process.poll() is None, f"a process exited at start; see the logs in {self.root}"
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(pending[0], timeout=2).status_code == 200:
                    pending.pop(0)
                    continue
            assert time.monotonic() < deadline, f"{pending[0]} did not answer within {timeout} s; logs in {self.root}"
            time.sleep(0.1)

    def kill_worker(self, process: subprocess.Popen[bytes]) -> None:
        """SIGKILL: no shutdown hook, no job finished, its leases left behind."""
        process.send_signal(signal.SIGKILL)
        process.wait()

    def stop(self) -> None:
        for process, _ in self.workers + self.apis:
            stop_process(process)

    def logs(self) -> str:
        """The end of every process's log, for a failure message."""
        return "\n".join(f"--- {path.name}\n{path.read_text()[-1500:]}" for path in sorted(self.root.glob("*.log")))


@dataclass(frozen=True)
class Credentials:
    account_id: str
    admin_jwt: str
    service_jwt: str


async def credentials(database_url: str, api_url: str, account_name: str) -> Credentials:
    """An account with an ADMIN and a SERVICE key, both logged in through the API."""
    db = Database(database_url, pool_size=1)
    try:
        async with db.transaction() as session:
            account = await account_store.create_account(session, account_name, retention_days=30)
            admin = await key_store.create_key(session, account.id, "admin", Role.ADMIN)
            service = await key_store.create_key(session, account.id, "ingest", Role.SERVICE)
    finally:
        await db.dispose()
    login = "mutation($id: ID!, $secret: String!) { apiKeyUser(id: $id, secret: $secret) { jwt } }"
    jwts = []
    async with httpx.AsyncClient(timeout=30) as client:
        for key in (admin, service):
            response = await client.post(
                f"{api_url}/graphql", json={"query": login, "variables": {"id": key.key.id, "secret": key.secret}}
            )
            jwts.append(str(response.json()["data"]["apiKeyUser"]["jwt"]))
    return Credentials(account_id=account.id, admin_jwt=jwts[0], service_jwt=jwts[1])
