"""One delivery in, one decision out: verify, then parse.  No I/O, shared by the Lambda and the app."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from receivers.s3.config import ReceiverConfig
from receivers.s3.verify import SignatureCheck, check_signature

EVENT_ID_HEADER = "x-audit-event-id"

# Both end up in S3 keys, so only characters that cannot climb out of the key layout pass.
_ACCOUNT = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_EVENT_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")


@dataclass(frozen=True)
class ReceivedEvent:
    """A verified event, with the body bytes exactly as the sender signed them."""

    event_id: str
    account: str
    timestamp_ms: int
    date: str
    body_bytes: bytes


@dataclass(frozen=True)
class Rejection:
    """Why a delivery was refused; nothing is written for it."""

    status_code: int
    message: str


def accept_delivery(config: ReceiverConfig, body_bytes: bytes, headers: Mapping[str, str]) -> ReceivedEvent | Rejection:
    """Verify the signature over the raw body, then read what the S3 key needs.

    ``headers`` must have lower-case names.  The signature comes first so that an unsigned
    caller learns nothing about what the receiver would accept.
    """
    if len(body_bytes) > config.max_body_bytes:
        return Rejection(413, f"body must be at most {config.max_body_bytes} bytes (AUDITTRAIL_S3_MAX_BODY_BYTES)")
    signature = check_signature(config.secret, body_bytes, headers, allow_sha1=config.allow_sha1)
    if signature is not SignatureCheck.VALID:
        return Rejection(401, _signature_message(signature, allow_sha1=config.allow_sha1))
    try:
        payload = json.loads(body_bytes)
    except (ValueError, RecursionError):
        return Rejection(400, "body must be a JSON object (UTF-8), got something that is not JSON")
    if not isinstance(payload, dict):
        return Rejection(400, f"body must be a JSON object, got a JSON {type(payload).__name__}")
    return _read_event(payload, body_bytes, headers.get(EVENT_ID_HEADER, ""))


def _read_event(payload: dict[str, object], body_bytes: bytes, event_id: str) -> ReceivedEvent | Rejection:
    if not _EVENT_ID.fullmatch(event_id):
        return Rejection(400, f"X-Audit-Event-Id must be 1-128 letters, digits, '-' or '_', got {event_id!r}")
    account = payload.get("account")
    if not isinstance(account, str) or not _ACCOUNT.fullmatch(account):
        return Rejection(400, f"'account' must be an account subdomain like 'acme', got {account!r}")
    timestamp = payload.get("timestamp")
    date = _utc_date(timestamp)
    if not isinstance(timestamp, int | float) or date is None:
        return Rejection(400, f"'timestamp' must be milliseconds since the epoch, got {timestamp!r}")
    return ReceivedEvent(event_id, account, int(timestamp), date, body_bytes)


def _utc_date(timestamp: object) -> str | None:
    if isinstance(timestamp, bool) or not isinstance(timestamp, int | float) or timestamp < 0:
        return None
    try:
        return datetime.fromtimestamp(timestamp / 1000, UTC).strftime("%Y-%m-%d")
    except (OverflowError, ValueError, OSError):
        return None


def _signature_message(signature: SignatureCheck, *, allow_sha1: bool) -> str:
    accepted = "X-Signature-256: sha256=<hex HMAC-SHA256(secret, raw body)>"
    if allow_sha1:
        accepted += " (or, without it, X-Signature: sha1=<hex HMAC-SHA1(secret, raw body)>)"
    if signature is SignatureCheck.MISSING:
        return f"signature header is required: {accepted}"
    return f"signature does not match the body; check the webhook secret. Expected {accepted}"
