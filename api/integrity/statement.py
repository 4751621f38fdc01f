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
LEAVES_PER_EVENT = 8_000
"""Events one ``audit_trail.digest`` event lists, about 790 KB of JSON: a digest over more goes out as
several events (its parts), so each stays under the 1 MiB a receiver accepts by default
(``receivers/s3``'s ``AUDITTRAIL_S3_MAX_BODY_BYTES``) and far under PostgreSQL's limit for one jsonb
value (about 256 MB, a five-minute interval at 9,000 events/s as one event)."""
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

    def event_parts(self, leaves_per_part: int = LEAVES_PER_EVENT) -> list[dict[str, Any]]:
        """``data`` of each ``audit_trail.digest`` event carrying this digest: the statement, its signature
        and hash, and a slice of the leaves in tree order from ``eventsOffset`` on (one part, offset 0,
        for up to ``leaves_per_part`` leaves; an empty interval is one part listing none)."""
        head = {
            **self.statement.fields(),
            "digestId": self.digest_id,
            "signature": base64.b64encode(self.signature).decode(),
            "digestHash": self.digest_hash.hex(),
        }
        listed = [[event_id, digest.hex()] for event_id, digest in self.leaves]
        offsets = range(0, max(len(listed), 1), leaves_per_part)
        return [{**head, "eventsOffset": start, "events": listed[start : start + leaves_per_part]} for start in offsets]


@dataclass(frozen=True)
class DigestPart:
    """One delivered ``audit_trail.digest`` event: the digest it belongs to, with only the leaves it lists."""

    digest: SignedDigest
    offset: int
    """Where its leaves start in the digest's tree order."""

    @classmethod
    def from_event_data(cls, data: dict[str, Any]) -> DigestPart:
        """The part a delivered event carries; ``KeyError``/``ValueError``/``TypeError`` when malformed.
        An event without ``eventsOffset`` (written before digests had parts) lists all the leaves."""
        pairs = [(str(event_id), bytes.fromhex(digest)) for event_id, digest in data["events"]]
        if any(len(event_id) != EVENT_ID_LENGTH or not event_id.isascii() for event_id, _ in pairs):
            raise ValueError(f"every listed event id must be {EVENT_ID_LENGTH} ASCII characters")
        if any(len(digest) != HASH_SIZE for _, digest in pairs):
            raise ValueError(f"every listed event hash must be {HASH_SIZE} bytes")
        offset = data.get("eventsOffset", 0)
        if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
            raise ValueError("eventsOffset must be a whole number")
        digest = SignedDigest(
            digest_id=str(data["digestId"]),
            statement=DigestStatement.from_fields(data),
            signature=base64.b64decode(data["signature"], validate=True),
            # As listed, not sorted: a part's leaves are its slice of the tree order, and a part listed
            # out of order must not be put right here (its digest's root then shows it).
            leaves=Leaves(b"".join(event_id.encode("ascii") + digest for event_id, digest in pairs)),
        )
        return cls(digest, offset)


class PartsDisagree(ValueError):
    """Two parts of one digest differ in what was signed, or list different events at one offset."""


def assemble(parts: list[DigestPart]) -> SignedDigest | None:
    """The digest its ``parts`` (at least one) carry, leaves in tree order; None while a part is missing
    (not delivered yet, or taken out of the copy).  The same part twice (a redelivery) counts once."""
    first = parts[0].digest
    by_offset: dict[int, DigestPart] = {}
    for part in parts:
        if (part.digest.statement, part.digest.signature) != (first.statement, first.signature):
            raise PartsDisagree(f"the parts of digest {first.digest_id} differ in what was signed")
        kept = by_offset.setdefault(part.offset, part)
        if kept.digest.leaves != part.digest.leaves:
            raise PartsDisagree(f"digest {first.digest_id} has two different parts at offset {part.offset}")
    packed, covered = [], 0
    for offset in sorted(by_offset):
        if offset != covered:
            return None
        leaves = by_offset[offset].digest.leaves
        packed.append(leaves.packed)
        covered += len(leaves)
    if covered != first.statement.event_count:
        return None
    return SignedDigest(
        digest_id=first.digest_id, statement=first.statement, signature=first.signature, leaves=Leaves(b"".join(packed))
    )
