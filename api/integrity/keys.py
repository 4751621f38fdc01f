"""The Ed25519 key that signs digests, the public keys that verify them, and their ids."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from api.settings import Settings

SIGNING_KEY_FILE = "digest_signing_key.pem"


@dataclass(frozen=True)
class PublicKey:
    """A verifying key with the id digests name it by."""

    key_id: str
    key: Ed25519PublicKey
    is_current: bool = False

    @property
    def raw_base64(self) -> str:
        """The 32 raw key bytes, base64: the form most Ed25519 tools take."""
        return base64.b64encode(self.key.public_bytes_raw()).decode()

    @property
    def pem(self) -> str:
        """SubjectPublicKeyInfo PEM: what ``audittrail verify --public-key`` reads."""
        return self.key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()

    def verifies(self, signature: bytes, message: bytes) -> bool:
        """True when ``signature`` is this key's over ``message``."""
        try:
            self.key.verify(signature, message)
        except InvalidSignature:
            return False
        return True


def key_id_of(key: Ed25519PublicKey) -> str:
    """The first 16 bytes of SHA-256 of the raw public key, hex: derived, so it cannot be mislabelled."""
    return hashlib.sha256(key.public_bytes_raw()).hexdigest()[:32]


@dataclass(frozen=True)
class SigningKey:
    """The private key digests are signed with now, and its public half."""

    private_key: Ed25519PrivateKey

    @property
    def public(self) -> PublicKey:
        public_key = self.private_key.public_key()
        return PublicKey(key_id=key_id_of(public_key), key=public_key, is_current=True)

    def sign(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``message``."""
        return self.private_key.sign(message)

    @classmethod
    def from_pem(cls, pem: str) -> SigningKey:
        """A key from PKCS#8 PEM; anything but an unencrypted Ed25519 key is refused."""
        loaded = serialization.load_pem_private_key(pem.encode(), password=None)
        if not isinstance(loaded, Ed25519PrivateKey):
            raise ValueError("the digest signing key must be an Ed25519 private key (PEM, PKCS#8)")
        return cls(loaded)

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> SigningKey:
        """The key kept in the data dir, generated there (mode 600) on first use."""
        key_file = data_dir / SIGNING_KEY_FILE
        if not key_file.exists():
            data_dir.mkdir(parents=True, exist_ok=True)
            pem = Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            # Created with mode 600 from the start: the key is never readable by others, even briefly.
            # Exclusive: when the API and the worker start together, the first one's key is kept.
            with contextlib.suppress(FileExistsError), open(key_file, "xb", opener=_open_private) as handle:
                handle.write(pem)
        return cls.from_pem(key_file.read_text())


def _open_private(path: str, flags: int) -> int:
    return os.open(path, flags, 0o600)


def load_public_keys(pem_text: str) -> list[PublicKey]:
    """Every Ed25519 public key in ``pem_text`` (one or more PEM blocks); other keys are refused."""
    keys = []
    blocks = [block for block in pem_text.split("-----END PUBLIC KEY-----") if "-----BEGIN PUBLIC KEY-----" in block]
    for block in blocks:
        loaded = serialization.load_pem_public_key((block.strip() + "\n-----END PUBLIC KEY-----\n").encode())
        if not isinstance(loaded, Ed25519PublicKey):
            raise ValueError("only Ed25519 public keys verify digests")
        keys.append(PublicKey(key_id=key_id_of(loaded), key=loaded))
    if not keys:
        raise ValueError("no PEM public key (-----BEGIN PUBLIC KEY-----) found")
    return keys


@dataclass(frozen=True)
class KeyRing:
    """The current signing key and every public key a digest may name (current and retired)."""

    signing_key: SigningKey
    retired: tuple[PublicKey, ...] = ()

    @property
    def public_keys(self) -> list[PublicKey]:
        """Current first, then retired ones."""
        current = self.signing_key.public
        return [current, *(key for key in self.retired if key.key_id != current.key_id)]

    def by_id(self) -> dict[str, PublicKey]:
        """Public keys by id, as verification looks them up."""
        return {key.key_id: key for key in self.public_keys}

    @classmethod
    def from_settings(cls, settings: Settings) -> KeyRing:
        """The key of ``AUDITTRAIL_DIGEST_SIGNING_KEY``, or the data dir's; retired keys from the settings."""
        configured = settings.digest_signing_key.get_secret_value() if settings.digest_signing_key else ""
        signing_key = SigningKey.from_pem(configured) if configured else SigningKey.in_data_dir(settings.data_dir)
        retired = [key for pem in settings.digest_retired_public_keys for key in load_public_keys(pem)]
        return cls(signing_key=signing_key, retired=tuple(retired))
