"""Every setting of the S3 receiver, read from ``AUDITTRAIL_S3_*`` environment variables in one place.

A plain dataclass rather than pydantic-settings, so the Lambda zip needs nothing beyond boto3,
which the Lambda Python runtime already provides.  AWS credentials are not settings of ours:
boto3 finds them the usual way (Lambda role, ``AWS_PROFILE``, ``AWS_ACCESS_KEY_ID``...).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeVar

ENV_PREFIX = "AUDITTRAIL_S3_"

WriteMode = Literal["object", "ndjson"]
BatchAck = Literal["flushed", "buffered"]

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})

_Value = TypeVar("_Value")


class ConfigError(ValueError):
    """The environment does not describe a usable receiver; the message lists every problem."""


@dataclass(frozen=True)
class BatchSettings:
    """When an NDJSON batch is written: whichever limit is reached first."""

    max_events: int = 500
    max_bytes: int = 5 * 1024 * 1024
    max_seconds: float = 5.0
    # "flushed": answer a delivery only once its batch is in S3 (at-least-once).
    # "buffered": answer as soon as it is in memory (at-most-once; see the README).
    ack: BatchAck = "flushed"


@dataclass(frozen=True)
class ReceiverConfig:
    """What the receiver needs: where to write, how to verify, how to batch."""

    bucket: str
    secret: str = field(repr=False)
    prefix: str = "audittrail"
    region: str | None = None
    endpoint_url: str | None = None
    allow_sha1: bool = False
    mode: WriteMode = "object"
    batch: BatchSettings = field(default_factory=BatchSettings)
    max_body_bytes: int = 1024 * 1024


def load_config(environ: Mapping[str, str] | None = None) -> ReceiverConfig:
    """Read the configuration from ``environ`` (default: the process environment) or raise ConfigError."""
    reader = _EnvReader(os.environ if environ is None else environ)
    bucket = reader.required("BUCKET", "the name of the S3 bucket to write audit events to")
    secret = reader.required("SECRET", "the webhook secret set with auditTrailSetWebhook")
    batch = BatchSettings(
        max_events=reader.parse("BATCH_MAX_EVENTS", BatchSettings.max_events, _positive_int),
        max_bytes=reader.parse("BATCH_MAX_BYTES", BatchSettings.max_bytes, _positive_int),
        max_seconds=reader.parse("BATCH_MAX_SECONDS", BatchSettings.max_seconds, _positive_float),
        ack=reader.parse("BATCH_ACK", BatchSettings.ack, _batch_ack),
    )
    config = ReceiverConfig(
        bucket=bucket,
        secret=secret,
        prefix=reader.optional("PREFIX", "audittrail").strip("/"),
        region=reader.optional("REGION", "") or None,
        endpoint_url=reader.optional("ENDPOINT_URL", "") or None,
        allow_sha1=reader.parse("ALLOW_SHA1", ReceiverConfig.allow_sha1, _boolean),
        mode=reader.parse("MODE", ReceiverConfig.mode, _write_mode),
        batch=batch,
        max_body_bytes=reader.parse("MAX_BODY_BYTES", ReceiverConfig.max_body_bytes, _positive_int),
    )
    reader.raise_if_invalid()
    return config


class _EnvReader:
    """Collects every problem so one start-up error tells the operator all of them."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        self._problems: list[str] = []

    def required(self, name: str, meaning: str) -> str:
        value = self._environ.get(ENV_PREFIX + name, "").strip()
        if not value:
            self._problems.append(f"{ENV_PREFIX}{name} is required: {meaning}")
        return value

    def optional(self, name: str, default: str) -> str:
        return self._environ.get(ENV_PREFIX + name, default).strip()

    def parse(self, name: str, default: _Value, parse: Callable[[str], _Value]) -> _Value:
        raw = self._environ.get(ENV_PREFIX + name)
        if raw is None:
            return default
        try:
            return parse(raw.strip())
        except ValueError as error:
            self._problems.append(f"{ENV_PREFIX}{name} {error}, got {raw!r}")
            return default

    def raise_if_invalid(self) -> None:
        if self._problems:
            raise ConfigError("invalid S3 receiver configuration:\n  " + "\n  ".join(self._problems))


def _boolean(raw: str) -> bool:
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise ValueError("must be true or false (1/0, yes/no, on/off)")


def _positive_int(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError("must be a whole number of at least 1")
    return value


def _positive_float(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise ValueError("must be a number of seconds greater than 0")
    return value


def _write_mode(raw: str) -> WriteMode:
    if raw == "object":
        return "object"
    if raw == "ndjson":
        return "ndjson"
    raise ValueError("must be object (one S3 object per event) or ndjson (batches)")


def _batch_ack(raw: str) -> BatchAck:
    if raw == "flushed":
        return "flushed"
    if raw == "buffered":
        return "buffered"
    raise ValueError("must be flushed (at-least-once) or buffered (at-most-once)")
