"""Signatures and headers of a delivery, GitHub's and Standard Webhooks': one function, used by every
attempt (``sender``) and by ``audittrail listen``."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass

from api import __version__
from api.webhooks.crypto import decrypt_headers, decrypt_text

USER_AGENT = f"audittrail/{__version__}"


def signature_headers(*, secret: str, body_bytes: bytes, message_id: str, timestamp: int) -> dict[str, str]:
    """GitHub-style ``X-Signature``/``X-Signature-256`` and the Standard Webhooks trio, over ``body_bytes``."""
    key = secret.encode()
    signed_content = f"{message_id}.{timestamp}.".encode() + body_bytes
    standard = base64.b64encode(hmac.new(key, signed_content, hashlib.sha256).digest()).decode()
    return {
        "X-Signature": "sha1=" + hmac.new(key, body_bytes, hashlib.sha1).hexdigest(),
        "X-Signature-256": "sha256=" + hmac.new(key, body_bytes, hashlib.sha256).hexdigest(),
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": "v1," + standard,
    }


@dataclass(frozen=True)
class SignedRequest:
    body_bytes: bytes
    headers: dict[str, str]
    custom_header_values: list[str]
    """Kept so that error texts about this request can be scrubbed of them."""


def sign_delivery(
    *,
    service_secret_key: str,
    secret_encrypted: str | None,
    custom_headers_encrypted: str | None,
    body_bytes: bytes,
    event_id: str,
    delivery_id: str,
    attempt: int,
    timestamp: int,
) -> SignedRequest:
    """Every header of one attempt.  The only place the webhook's secret and header values are decrypted;
    custom headers come last, and validation keeps them off ours.  A webhook without a secret gets no
    signature headers at all (as GitHub does), only the Standard Webhooks id and timestamp."""
    custom_headers = decrypt_headers(service_secret_key, custom_headers_encrypted)
    if secret_encrypted is None:
        signatures = {"webhook-id": delivery_id, "webhook-timestamp": str(timestamp)}
    else:
        secret = decrypt_text(service_secret_key, secret_encrypted)
        signatures = signature_headers(
            secret=secret, body_bytes=body_bytes, message_id=delivery_id, timestamp=timestamp
        )
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        **signatures,
        "X-Audit-Event-Id": event_id,
        "X-Audit-Delivery-Id": delivery_id,
        "X-Audit-Attempt": str(attempt),
    }
    for name, value in custom_headers:
        headers.setdefault(name, value)
    return SignedRequest(
        body_bytes=body_bytes, headers=headers, custom_header_values=[value for _, value in custom_headers]
    )


@dataclass(frozen=True)
class SignatureCheck:
    sha1_ok: bool
    sha256_ok: bool
    standard_ok: bool

    @property
    def all_ok(self) -> bool:
        return self.sha1_ok and self.sha256_ok and self.standard_ok

    @property
    def failed(self) -> list[str]:
        """The headers whose signature did not verify, by their names."""
        checks = (
            ("X-Signature", self.sha1_ok),
            ("X-Signature-256", self.sha256_ok),
            ("webhook-signature", self.standard_ok),
        )
        return [name for name, ok in checks if not ok]


def check_signatures(*, secret: str, body_bytes: bytes, headers: Mapping[str, str]) -> SignatureCheck:
    """A receiver's side: do the received signature headers match ``body_bytes``?  (Case-insensitive
    header lookup is the caller's: pass a mapping with lower-case names.)"""
    timestamp = headers.get("webhook-timestamp", "")
    expected = signature_headers(
        secret=secret,
        body_bytes=body_bytes,
        message_id=headers.get("webhook-id", ""),
        timestamp=int(timestamp) if timestamp.isdigit() else 0,
    )

    def matches(name: str) -> bool:
        return hmac.compare_digest(expected[name].encode(), headers.get(name.lower(), "").encode())

    return SignatureCheck(
        sha1_ok=matches("X-Signature"),
        sha256_ok=matches("X-Signature-256"),
        standard_ok=timestamp.isdigit() and matches("webhook-signature"),
    )
