"""Signature checks: GitHub's scheme over the exact bytes received (docs/design.md, "Webhook payload")."""

from __future__ import annotations

import enum
import hmac
from collections.abc import Mapping
from typing import Literal

SIGNATURE_256_HEADER = "x-signature-256"
SIGNATURE_SHA1_HEADER = "x-signature"

Algorithm = Literal["sha256", "sha1"]


class SignatureCheck(enum.Enum):
    VALID = "valid"
    MISSING = "missing"
    INVALID = "invalid"


def sign(secret: str, body_bytes: bytes, algorithm: Algorithm = "sha256") -> str:
    """The header value a sender computes: ``sha256=<hex HMAC(secret, body)>``."""
    digest = hmac.new(secret.encode(), body_bytes, algorithm).hexdigest()
    return f"{algorithm}={digest}"


def check_signature(secret: str, body_bytes: bytes, headers: Mapping[str, str], *, allow_sha1: bool) -> SignatureCheck:
    """Check ``X-Signature-256``; fall back to sha1 ``X-Signature`` only when allowed and no sha256 was sent.

    ``headers`` must have lower-case names.  A sha256 signature that is present but wrong is
    never rescued by a sha1 one: a downgrade would weaken the check.
    """
    sent_sha256 = headers.get(SIGNATURE_256_HEADER)
    if sent_sha256 is not None:
        return _compare(sign(secret, body_bytes, "sha256"), sent_sha256)
    sent_sha1 = headers.get(SIGNATURE_SHA1_HEADER)
    if allow_sha1 and sent_sha1 is not None:
        return _compare(sign(secret, body_bytes, "sha1"), sent_sha1)
    return SignatureCheck.MISSING


def _compare(expected: str, sent: str) -> SignatureCheck:
    # compare_digest takes time independent of where the values differ, so a caller cannot
    # learn the expected signature byte by byte from response times.
    if hmac.compare_digest(expected.encode(), sent.strip().encode("utf-8", "replace")):
        return SignatureCheck.VALID
    return SignatureCheck.INVALID
