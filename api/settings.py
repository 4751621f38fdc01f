"""Every setting of the service, read from the environment in one place.

Most settings take the ``AUDITTRAIL_`` prefix; ``DATABASE_URL`` and ``REDIS_URL`` are read
plain because that is what hosting platforms set.  When either URL is missing the CLI starts
the embedded server for it under ``AUDITTRAIL_DATA_DIR`` (see ``api.embedded``).
"""

from __future__ import annotations

import secrets
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from api.accounts.login_limits import LoginLimits
from api.db import DatabaseTimeouts

DEFAULT_RETRY_SCHEDULE = (5, 30, 120, 600, 1800, 3600, 10800, 21600, 43200, 86400)


class Settings(BaseSettings):
    """Configuration of the API, the worker and the CLI."""

    model_config = SettingsConfigDict(env_prefix="AUDITTRAIL_", extra="ignore")

    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "AUDITTRAIL_DATABASE_URL")
    )
    redis_url: str | None = Field(default=None, validation_alias=AliasChoices("REDIS_URL", "AUDITTRAIL_REDIS_URL"))
    data_dir: Path = Path(".audittrail")
    secret_key: SecretStr | None = None

    public_url: str | None = Field(
        default=None, pattern=r"^https?://[^/\s]+/?$", description="scheme://host[:port] clients reach the API at"
    )
    commit_sha: str = ""
    database_connect_timeout_seconds: float = Field(default=5.0, gt=0)
    database_acquire_timeout_seconds: float = Field(default=30.0, gt=0)
    database_statement_timeout_seconds: float = Field(default=4.0, gt=0)
    worker_database_statement_timeout_seconds: float = Field(default=60.0, gt=0)
    readyz_timeout_seconds: float = Field(default=2.0, gt=0)
    jwt_lifetime_seconds: int = Field(default=36_000, ge=60)
    graphiql: bool = True
    introspection: bool = True
    default_page_size: int = Field(default=50, ge=1)
    max_page_size: int = Field(default=500, ge=1)
    export_batch_size: int = Field(default=2000, ge=1, le=50_000)
    replay_max_events: int = Field(default=100_000, ge=1)
    replay_batch_size: int = Field(default=200, ge=1, le=10_000)
    redeliver_failed_max: int = Field(default=500, ge=1, le=10_000)
    """The most failed deliveries one "Redeliver all failed" queues (oldest first; call again for more)."""
    live_buffer_events: int = Field(default=1000, ge=1, le=100_000)
    """Events a live-tail subscriber may have waiting before it is closed as too slow."""
    live_shared_frames: bool = True
    """Live-tail subscribers with the same document share each event's executed, encoded payload;
    off, each subscription runs strawberry's own per-event execution (the same bytes, more CPU)."""
    max_query_depth: int = Field(default=10, ge=1)
    max_aliases: int = Field(default=30, ge=1)
    # Real documents are far smaller (the introspection query: 183 tokens, 72 fields, 3 fragments,
    # 8 spreads); the limits keep the costliest document under ~20 ms of CPU (bench/documents.py).
    max_query_tokens: int = Field(default=1000, ge=100)
    max_query_fields: int = Field(default=100, ge=1)
    max_query_fragments: int = Field(default=10, ge=0)
    max_query_fragment_spreads: int = Field(default=20, ge=0)
    max_query_directives: int = Field(default=20, ge=0)
    max_query_variables: int = Field(default=20, ge=0)
    max_query_bytes: int = Field(default=20_000, ge=1_000)
    max_request_bytes: int = Field(default=8_000_000, ge=10_000)
    max_anonymous_request_bytes: int = Field(default=65_536, ge=10_000)
    trusted_proxies: list[str] = Field(default_factory=list)
    login_failures_per_address: int = Field(default=20, ge=1)
    login_address_window_seconds: int = Field(default=300, ge=1)
    login_failures_per_key: int = Field(default=10, ge=1)
    login_key_window_seconds: int = Field(default=900, ge=1)
    login_limiter_timeout_seconds: float = Field(default=2.0, gt=0)

    allow_private_endpoints: bool | None = None
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    verify_timeout_seconds: float = Field(default=10.0, gt=0)
    retry_schedule_seconds: list[float] = Field(default_factory=lambda: [float(s) for s in DEFAULT_RETRY_SCHEDULE])
    retry_after_cap_seconds: float = Field(default=3600.0, gt=0)
    sweep_interval_seconds: int = Field(default=5, ge=1)
    webhook_auto_disable_after_seconds: float = Field(default=5 * 86400, ge=0)
    """A webhook whose every attempt failed for this long is disabled (0: never)."""
    worker_poll_delay_seconds: float = Field(default=0.05, gt=0)
    worker_max_jobs: int = Field(default=50, ge=1)

    default_retention_days: int = Field(default=30, ge=1, le=3650)
    digest_interval_seconds: int = Field(default=300, ge=1, le=86_400)
    digest_grace_seconds: float | None = Field(default=None, ge=0)
    """How long after an interval ends its digest waits for transactions still open (see ``digest_grace``)."""
    digest_signing_key: SecretStr | None = None
    """An Ed25519 private key (PEM, PKCS#8); generated into the data dir when unset."""
    digest_retired_public_keys: list[str] = Field(default_factory=list)
    """Ed25519 public keys (PEM) that signed older digests: listed and trusted by verify after a rotation."""
    partitions_ahead_days: int = Field(default=7, ge=1)
    log_level: str = "INFO"
    log_json: bool = False
    resource_url_template: str | None = None
    metrics_enabled: bool = True
    metrics_token: SecretStr | None = None
    """When set, ``/metrics`` (API and worker) answers only ``Authorization: Bearer <token>``."""
    worker_metrics_port: int | None = Field(default=None, ge=1, le=65535)
    """The worker serves ``/metrics`` on this port when set (each worker on one host needs its own)."""
    worker_metrics_host: str = "127.0.0.1"

    @property
    def database_timeouts(self) -> DatabaseTimeouts:
        """The three database timeouts as the one value ``Database`` takes."""
        return DatabaseTimeouts(
            connect_seconds=self.database_connect_timeout_seconds,
            acquire_seconds=self.database_acquire_timeout_seconds,
            statement_seconds=self.database_statement_timeout_seconds,
        )

    @property
    def digest_grace(self) -> float:
        """Seconds between an interval's end and its digest.  An event's ``recorded_at`` is its
        transaction's start, so a transaction open across the interval's end commits into it late;
        by default the wait outlasts the longest transaction we run (a few statements and a
        verify-on-save POST), with a minute to spare."""
        if self.digest_grace_seconds is not None:
            return self.digest_grace_seconds
        return 60.0 + 2 * self.database_statement_timeout_seconds + self.verify_timeout_seconds

    @property
    def worker_database_timeouts(self) -> DatabaseTimeouts:
        """The worker's: no client waits on it, and retention and digests run long statements."""
        return replace(self.database_timeouts, statement_seconds=self.worker_database_statement_timeout_seconds)

    @property
    def login_limits(self) -> LoginLimits:
        """The failed-login limits as the one value the login guard takes."""
        return LoginLimits(
            per_address=self.login_failures_per_address,
            address_window_seconds=self.login_address_window_seconds,
            per_key=self.login_failures_per_key,
            key_window_seconds=self.login_key_window_seconds,
            redis_timeout_seconds=self.login_limiter_timeout_seconds,
        )

    @property
    def is_embedded(self) -> bool:
        """True when at least one backing server is started by us rather than given by URL."""
        return self.database_url is None or self.redis_url is None

    @property
    def private_endpoints_allowed(self) -> bool:
        """Private targets are fine on a developer machine, refused in production unless opted in."""
        if self.allow_private_endpoints is not None:
            return self.allow_private_endpoints
        return self.is_embedded

    def resolved_secret_key(self) -> str:
        """The service secret; in embedded mode generated once and kept in the data dir."""
        if self.secret_key is not None and self.secret_key.get_secret_value():
            return self.secret_key.get_secret_value()
        if not self.is_embedded:
            raise RuntimeError(
                "AUDITTRAIL_SECRET_KEY must be set when DATABASE_URL and REDIS_URL point at external servers"
            )
        key_file = self.data_dir / "secret_key"
        if not key_file.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            key_file.write_text(secrets.token_urlsafe(48))
            key_file.chmod(0o600)
        return key_file.read_text().strip()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
