"""Webhook secrets and custom header values at rest: Fernet with a key derived from the service key."""

from __future__ import annotations

import base64
from functools import lru_cache

import orjson
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

# A purpose label keeps this key independent of anything else derived from the service key (JWTs).
_KEY_PURPOSE = b"audittrail webhook secrets v1"
DECRYPTED_KEPT = 1024
"""Decrypted secrets and header lists kept in memory: one each per webhook recently delivered to."""


@lru_cache(maxsize=4)
def _fernet(service_secret_key: str) -> Fernet:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_KEY_PURPOSE).derive(
        service_secret_key.encode()
    )
    return Fernet(base64.urlsafe_b64encode(derived))


def encrypt_text(service_secret_key: str, plaintext: str) -> str:
    """Ciphertext (URL-safe base64 text) of ``plaintext``."""
    return _fernet(service_secret_key).encrypt(plaintext.encode()).decode()


@lru_cache(maxsize=DECRYPTED_KEPT)
def decrypt_text(service_secret_key: str, ciphertext: str) -> str:
    """The plaintext of ``encrypt_text``'s ciphertext; InvalidToken when the service key changed.

    Kept per (service key, ciphertext): every delivery to a webhook carries the same ciphertexts, and
    Fernet's HMAC check and AES were a worker's cost per delivery.  A failed decryption is not kept
    (it raises), and another service key is another entry, checked afresh.
    """
    return _fernet(service_secret_key).decrypt(ciphertext.encode()).decode()


def encrypt_headers(service_secret_key: str, headers: list[tuple[str, str]]) -> str | None:
    """Custom headers as one ciphertext; None when there are none."""
    if not headers:
        return None
    return encrypt_text(service_secret_key, orjson.dumps([[name, value] for name, value in headers]).decode())


def decrypt_headers(service_secret_key: str, ciphertext: str | None) -> list[tuple[str, str]]:
    """The custom headers of ``encrypt_headers``' ciphertext, in order; none for None."""
    if not ciphertext:
        return []
    return list(_decrypted_headers(service_secret_key, ciphertext))


@lru_cache(maxsize=DECRYPTED_KEPT)
def _decrypted_headers(service_secret_key: str, ciphertext: str) -> tuple[tuple[str, str], ...]:
    pairs = orjson.loads(decrypt_text(service_secret_key, ciphertext))
    return tuple((str(name), str(value)) for name, value in pairs)
