"""Tables of the service.  Alembic migrations in ``api/migrations`` are what create them.

``audit_events`` is range-partitioned by ``created_at`` in the migration; this model is the
shape SQLAlchemy reads and writes, the partitioning is invisible to it.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, DateTime, LargeBinary, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from api.ulids import ULIDS

ID_LENGTH = 26
"""Every id is a ULID of this length; a longer value is refused before any lookup."""


def could_be_id(value: str) -> bool:
    """False for values that no id of ours can be (checked before they reach a query or a message)."""
    return 0 < len(value) <= ID_LENGTH


def shown_id(value: str) -> str:
    """An id for an error message: quoted when it could be one of ours, else only its length (never echo a
    megabyte back, nor let a message carry whatever a client sent)."""
    return repr(value) if could_be_id(value) else f"of {len(value)} characters (ids have {ID_LENGTH})"


def new_id() -> str:
    """A 26-character ULID: sortable by creation time, safe in URLs."""
    return ULIDS.now()


def utcnow() -> datetime:
    """An aware UTC timestamp: every time column is ``timestamptz``."""
    return datetime.now(UTC)


def _tz(**kwargs: Any) -> Any:
    return Field(sa_type=DateTime(timezone=True), **kwargs)


class Role(enum.StrEnum):
    ADMIN = "ADMIN"
    READER = "READER"
    SERVICE = "SERVICE"


class EventType(enum.StrEnum):
    """Spacelift's event types.  Whether an event is a run state change is a flag of its own."""

    CREATE = "CREATE"
    UPDATE = "UPDATE"
    DELETE = "DELETE"


class DeliveryStatus(enum.StrEnum):
    PENDING = "PENDING"
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"


class Account(SQLModel, table=True):
    __tablename__ = "accounts"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=ID_LENGTH)
    name: str = Field(unique=True, index=True)
    retention_days: int = 30
    created_at: datetime = _tz(default_factory=utcnow)
    digest_events: bool = True
    """Whether each signed digest is also recorded (and delivered) as an ``audit_trail.digest`` event."""


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_keys"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=ID_LENGTH)
    account_id: str = Field(foreign_key="accounts.id", index=True)
    name: str
    role: str
    secret_hash: str
    created_at: datetime = _tz(default_factory=utcnow)
    last_used_at: datetime | None = _tz(default=None)
    revoked_at: datetime | None = _tz(default=None)


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_events"

    id: str = Field(primary_key=True, max_length=ID_LENGTH)
    created_at: datetime = Field(sa_type=DateTime(timezone=True), primary_key=True)
    account_id: str = Field(index=False)
    action: str
    actor: str
    actor_source: str
    event_type: str
    run_state_change: bool = False
    affected_resource_type: str | None = None
    affected_resource_id: str | None = None
    related_resource_type: str | None = None
    related_resource_id: str | None = None
    run_id: str | None = None
    run_stack_id: str | None = None
    context: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONB, nullable=False))
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONB, nullable=False))
    remote_ip: str | None = None
    recorded_by: str | None = None
    recorded_at: datetime | None = _tz(default=None)
    """The service's clock when the event was recorded (``record_events`` writes it); NULL before migration 0005."""
    body: str = Field(sa_column=Column(Text, nullable=False))
    event_hash: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    """SHA-256 of id and body (``api.audit.hashing``), written by the insert; NULL before migration 0007."""


class AuditEventExternalId(SQLModel, table=True):
    """The id a client gave an ingested event, unique per account: what makes a retried batch a no-op."""

    __tablename__ = "audit_event_external_ids"

    account_id: str = Field(primary_key=True, max_length=ID_LENGTH)
    external_id: str = Field(primary_key=True)
    event_id: str = Field(max_length=ID_LENGTH)
    event_created_at: datetime = Field(sa_type=DateTime(timezone=True))


class Webhook(SQLModel, table=True):
    """An account's webhook.  Deleting sets ``deleted_at`` so the delete payload can still be sent."""

    __tablename__ = "webhooks"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=ID_LENGTH)
    account_id: str = Field(foreign_key="accounts.id")
    enabled: bool
    endpoint: str
    include_runs: bool = False
    retry_on_failure: bool = False
    secret_encrypted: str | None = None
    """None for an unsigned webhook: its deliveries carry no signature headers."""
    secret_sha: str | None = None
    custom_headers_encrypted: str | None = None
    custom_header_names: list[str] = Field(default_factory=list, sa_column=Column(JSONB, nullable=False))
    created_at: datetime = _tz(default_factory=utcnow)
    updated_at: datetime = _tz(default_factory=utcnow)
    deleted_at: datetime | None = _tz(default=None)
    last_delivery_at: datetime | None = _tz(default=None)
    last_success_at: datetime | None = _tz(default=None)
    consecutive_failures: int = 0
    failing_since: datetime | None = _tz(default=None)
    """When the current run of failed attempts began; NULL while the last attempt succeeded."""
    auto_disabled_at: datetime | None = _tz(default=None)
    """When the worker disabled it for failing too long; cleared when it is enabled again."""


class WebhookDelivery(SQLModel, table=True):
    """One event owed to one webhook; the unit the worker claims, sends and retries."""

    __tablename__ = "webhook_deliveries"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=ID_LENGTH)
    account_id: str
    webhook_id: str = Field(foreign_key="webhooks.id")
    event_id: str
    event_created_at: datetime = _tz()
    action: str
    status: str = DeliveryStatus.PENDING.value
    attempts: int = 0
    next_attempt_at: datetime | None = _tz(default_factory=utcnow)
    last_status_code: int | None = None
    last_error: str | None = None
    last_latency_ms: int | None = None
    response_snippet: str | None = None
    created_at: datetime = _tz(default_factory=utcnow)
    updated_at: datetime = _tz(default_factory=utcnow)
    delivered_at: datetime | None = _tz(default=None)
    replay_id: str | None = None
    """The replay that re-sent this event, None for the event's own delivery."""


class ReplayStatus(enum.StrEnum):
    RUNNING = "RUNNING"
    """Enqueuing batches, or some of its deliveries are still pending."""
    FINISHED = "FINISHED"
    CANCELLED = "CANCELLED"


class WebhookReplay(SQLModel, table=True):
    """A re-delivery of a time range of stored events to the account's webhook, enqueued in batches."""

    __tablename__ = "webhook_replays"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=ID_LENGTH)
    account_id: str = Field(foreign_key="accounts.id")
    webhook_id: str = Field(foreign_key="webhooks.id")
    range_from: datetime = _tz()
    range_to: datetime = _tz()
    filters: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONB, nullable=False))
    status: str = ReplayStatus.RUNNING.value
    total: int
    enqueued: int = 0
    after_created_at: datetime | None = _tz(default=None)
    after_id: str | None = None
    """The keyset position of the last event enqueued (None: none yet)."""
    created_at: datetime = _tz(default_factory=utcnow)
    updated_at: datetime = _tz(default_factory=utcnow)
    finished_at: datetime | None = _tz(default=None)


class WebhookDeliveryAttempt(SQLModel, table=True):
    """One attempt of a delivery as it went; written with the attempt's outcome (``api.webhooks.attempts``)."""

    __tablename__ = "webhook_delivery_attempts"

    delivery_id: str = Field(foreign_key="webhook_deliveries.id", primary_key=True, max_length=ID_LENGTH)
    attempt: int = Field(primary_key=True)
    recorded_at: datetime = _tz(default_factory=utcnow)
    status_code: int | None = None
    error: str | None = None
    latency_ms: int = 0
    request_headers: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSONB, nullable=False))
    response_headers: dict[str, str] | None = Field(default=None, sa_column=Column(JSONB, nullable=True))
    response_snippet: str | None = None


class SavedFilter(SQLModel, table=True):
    """A named view of the Logs tab (filters and a time range as the client's JSON text), per account."""

    __tablename__ = "saved_filters"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=ID_LENGTH)
    account_id: str = Field(foreign_key="accounts.id")
    type: str
    name: str
    data: str
    is_public: bool = False
    """False: only the key that saved it sees it; True: every key of the account that reads the trail."""
    created_by: str = Field(foreign_key="api_keys.id", max_length=ID_LENGTH)
    created_at: datetime = _tz(default_factory=utcnow)
    updated_at: datetime = _tz(default_factory=utcnow)


class RevokedToken(SQLModel, table=True):
    """A token ended by ``logout`` before its expiry; kept until it would have expired anyway."""

    __tablename__ = "revoked_tokens"

    jti: str = Field(primary_key=True, max_length=ID_LENGTH)
    key_id: str = Field(foreign_key="api_keys.id", max_length=ID_LENGTH)
    revoked_at: datetime = _tz(default_factory=utcnow)
    expires_at: datetime = _tz()
