"""A digest as signed and as delivered: the one place that decides its fields and their bytes.

Pure: the ``--files`` verifier rebuilds statements from delivered events with this module alone.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from api.audit.hashing import EVENT_ID_LENGTH, HASH_SIZE, Leaves

STATEMENT_VERSION = 1
DIGEST_ACTION = "audit_trail.digest"
DIGEST_ACTOR = "system::audittrail"
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def format_time(moment: datetime) -> str:
    """Interval bounds are whole UTC seconds, written ``2026-01-31T12:05:00Z``."""
    return moment.astimezone(UTC).strftime(TIME_FORMAT)


def parse_time(text: str) -> datetime:
    """The inverse of ``format_time``."""
    return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=UTC)


@dataclass(frozen=True, kw_only=True)
class DigestStatement:
    """What a digest's signature covers."""

    account_id: str
    account: str
    sequence: int
    interval_start: datetime
    interval_end: datetime
    event_count: int
    merkle_root: bytes
    previous_digest_hash: bytes | None
    key_id: str

    def fields(self) -> dict[str, Any]:
        """The statement's JSON fields (hashes in lowercase hex, times as ``format_time``)."""
        return {
            "version": STATEMENT_VERSION,
            "accountId": self.account_id,
            "account": self.account,
            "sequence": self.sequence,
            "intervalStart": format_time(self.interval_start),
            "intervalEnd": format_time(self.interval_end),
            "eventCount": self.event_count,
            "merkleRoot": self.merkle_root.hex(),
            "previousDigestHash": self.previous_digest_hash.hex() if self.previous_digest_hash else None,
            "keyId": self.key_id,
        }

    def signed_bytes(self) -> bytes:
        """Compact JSON of ``fields`` with keys sorted: the exact bytes the Ed25519 signature covers."""
        return orjson.dumps(self.fields(), option=orjson.OPT_SORT_KEYS)

    def digest_hash(self, signature: bytes) -> bytes:
        """SHA-256 of the signed bytes followed by the signature: what the next digest chains to."""
        return hashlib.sha256(self.signed_bytes() + signature).digest()

    @classmethod
    def from_fields(cls, fields: dict[str, Any]) -> DigestStatement:
        """A statement from delivered JSON; ``KeyError``/``ValueError``/``TypeError`` when malformed."""
        if fields["version"] != STATEMENT_VERSION:
            raise ValueError(f"unknown digest version {fields['version']!r}")
        previous = fields["previousDigestHash"]
        return cls(
            account_id=str(fields["accountId"]),
            account=str(fields["account"]),
            sequence=int(fields["sequence"]),
            interval_start=parse_time(fields["intervalStart"]),
            interval_end=parse_time(fields["intervalEnd"]),
            event_count=int(fields["eventCount"]),
            merkle_root=bytes.fromhex(fields["merkleRoot"]),
            previous_digest_hash=bytes.fromhex(previous) if previous is not None else None,
            key_id=str(fields["keyId"]),
        )


@dataclass(frozen=True, kw_only=True)
class SignedDigest:
    """A statement with its signature and the leaves its Merkle root was computed over."""

    digest_id: str
    statement: DigestStatement
    signature: bytes
    leaves: Leaves

    @property
    def digest_hash(self) -> bytes:
        return self.statement.digest_hash(self.signature)

    def event_data(self) -> dict[str, Any]:
        """``data`` of the ``audit_trail.digest`` event: the statement, its signature, hash and leaves."""
        return {
            **self.statement.fields(),
            "digestId": self.digest_id,
            "signature": base64.b64encode(self.signature).decode(),
            "digestHash": self.digest_hash.hex(),
            "events": [[event_id, digest.hex()] for event_id, digest in self.leaves],
        }

    @classmethod
    def from_event_data(cls, data: dict[str, Any]) -> SignedDigest:
        """The digest a delivered event carries; ``KeyError``/``ValueError``/``TypeError`` when malformed."""
        pairs = [(str(event_id), bytes.fromhex(digest)) for event_id, digest in data["events"]]
        if any(len(event_id) != EVENT_ID_LENGTH or not event_id.isascii() for event_id, _ in pairs):
            raise ValueError(f"every listed event id must be {EVENT_ID_LENGTH} ASCII characters")
        if any(len(digest) != HASH_SIZE for _, digest in pairs):
            raise ValueError(f"every listed event hash must be {HASH_SIZE} bytes")
        return cls(
            digest_id=str(data["digestId"]),
            statement=DigestStatement.from_fields(data),
            signature=base64.b64decode(data["signature"], validate=True),
            leaves=Leaves.of(pairs),
        )
