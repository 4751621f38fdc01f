"""The SHA-256 hex digest of a secret: how key secrets are stored and webhook secrets are shown."""

from __future__ import annotations

import hashlib


def sha256_hex(secret: str) -> str:
    """Key and webhook secrets are long random strings, so a plain SHA-256 is as strong as a slow hash here."""
    return hashlib.sha256(secret.encode()).hexdigest()
