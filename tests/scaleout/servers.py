"""Debian's PostgreSQL and Redis server packages, started on 127.0.0.1 ports as separate servers:
what a team's managed servers look like to the service (plain ``DATABASE_URL``/``REDIS_URL``).

Installed with apt-get when missing and we are root (as ``make pytest`` installs chromium);
otherwise the suite is skipped with the command that would install them.  PostgreSQL refuses to
run as root: as root, its commands run as the ``postgres`` user the package creates.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from redis import Redis
from redis.exceptions import RedisError

from tests.reliability.stack import free_port

PACKAGES = ("postgresql", "redis-server")
INSTALL_COMMAND = "apt-get install --no-install-recommends postgresql redis-server"
REDIS_SERVER = Path("/usr/bin/redis-server")
START_TIMEOUT_SECONDS = 60


def postgres_bin() -> Path | None:
    """The newest ``/usr/lib/postgresql/<major>/bin`` (Debian's layout), if any."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda path: int(path.parts[-3]))
    return found[-1].parent if found else None


def missing_packages() -> list[str]:
    """The server packages not installed."""
    return [
        package
        for package, present in (("postgresql", postgres_bin() is not None), ("redis-server", REDIS_SERVER.exists()))
        if not present
    ]


def install_or_explain() -> str | None:
    """Install what is missing when we may; None when both servers are there, else why they cannot be."""
    missing = missing_packages()
    if not missing:
        return None
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return (
            f"the scale-out tests need Debian's {' and '.join(missing)} package(s), and we are not root on a"
            f" Debian system to install them: run `sudo {INSTALL_COMMAND}`"
        )
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=environment)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing], check=True, env=environment
    )
    still_missing = missing_packages()
    return f"apt-get installed {missing} but {still_missing} are still missing" if still_missing else None


def _run_as() -> str | None:
    """PostgreSQL's commands run as ``postgres`` when we are root (it refuses root)."""
    return "postgres" if os.geteuid() == 0 else None


@dataclass
class ServerProcess:
    """A server of our own on 127.0.0.1:<port>, its files in a temporary directory removed on stop."""

    directory: Path
    port: int
    process: subprocess.Popen[bytes]

    def wait_until(self, ready: Callable[[], bool], what: str, log: Path, pause: float) -> None:
        """Poll ``ready`` until it answers; a server that exits or stays silent is stopped and its log shown."""
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not ready():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"{what} did not start:\n{log.read_text()[-2000:] if log.exists() else ''}")
            time.sleep(pause)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # PostgreSQL's fast shutdown; Redis exits on it too
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)


@dataclass
class DebianPostgres(ServerProcess):
    """A cluster of its own (initdb in a temporary directory), listening on 127.0.0.1:<port>."""

    @property
    def url(self) -> str:
        return f"postgresql://audittrail@127.0.0.1:{self.port}/audittrail"

    @classmethod
    def start(cls, max_connections: int = 300) -> DebianPostgres:
        bin_dir = postgres_bin()
        assert bin_dir is not None
        user = _run_as()
        directory = Path(tempfile.mkdtemp(prefix="audittrail-scaleout-pg-"))
        if user is not None:
            owner = pwd.getpwnam(user)
            os.chown(directory, owner.pw_uid, owner.pw_gid)
        data = directory / "data"
        subprocess.run(
            [bin_dir / "initdb", "-D", data, "-U", "audittrail", "-A", "trust", "-E", "UTF8", "--no-sync"],
            check=True,
            capture_output=True,
            user=user,
        )
        port = free_port()
        log = (directory / "postgres.log").open("ab")
        if user is not None:
            os.chown(log.name, pwd.getpwnam(user).pw_uid, -1)
        process = subprocess.Popen(
            [
                *(bin_dir / "postgres", "-D", data, "-p", str(port), "-k", directory),
                *("-c", "listen_addresses=127.0.0.1", "-c", f"max_connections={max_connections}"),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            user=user,
            start_new_session=True,
        )
        server = cls(directory=directory, port=port, process=process)
        server.wait_until(
            lambda: (
                not subprocess.run(
                    [bin_dir / "pg_isready", "-h", "127.0.0.1", "-p", str(port)], capture_output=True
                ).returncode
            ),
            "PostgreSQL",
            directory / "postgres.log",
            pause=0.1,
        )
        subprocess.run(
            [bin_dir / "createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "audittrail", "audittrail"],
            check=True,
            capture_output=True,
        )
        return server


@dataclass
class DebianRedis(ServerProcess):
    """``redis-server`` on 127.0.0.1:<port>, nothing persisted."""

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @classmethod
    def start(cls) -> DebianRedis:
        directory = Path(tempfile.mkdtemp(prefix="audittrail-scaleout-redis-"))
        port = free_port()
        process = subprocess.Popen(
            [
                *(REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"),
                *("--dir", directory, "--logfile", directory / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        server = cls(directory=directory, port=port, process=process)
        client = Redis.from_url(server.url, socket_connect_timeout=1)
        try:
            server.wait_until(lambda: _answers(client), "redis-server", directory / "redis.log", pause=0.05)
        finally:
            client.close()
        return server


def _answers(client: Redis) -> bool:
    try:
        return bool(client.ping())
    except (RedisError, OSError):
        return False
