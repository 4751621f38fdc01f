"""Event hashes and the Merkle tree over them: the one definition that recording, digesting and both
verifiers use (docs/design.md, "Integrity").  Pure functions: the ``--files`` verifier imports this
without a database or the service secret.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

EVENT_ID_LENGTH = 26
"""Event ids are ULIDs: 26 ASCII characters, so ``id || body`` needs no separator to be unambiguous."""
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
# Distinct prefixes for leaves and inner nodes (as RFC 6962 does), so no leaf can pass for a node.
HASH_SIZE = 32
PACKED_LEAF_SIZE = EVENT_ID_LENGTH + HASH_SIZE


def event_hash(event_id: str, body: str | bytes) -> bytes:
    """SHA-256 of the id's ASCII bytes followed by the stored body's UTF-8 bytes."""
    body_bytes = body.encode() if isinstance(body, str) else body
    return hashlib.sha256(event_id.encode("ascii") + body_bytes).digest()


def leaf_hash(event_id: str, hash_of_event: bytes) -> bytes:
    """A leaf commits to the id as well as the event hash, so a leaf cannot move to another id."""
    return hashlib.sha256(LEAF_PREFIX + event_id.encode("ascii") + hash_of_event).digest()


def merkle_root(leaves: Sequence[tuple[str, bytes]]) -> bytes:
    """The root over ``(event id, event hash)`` pairs, taken in ascending id order.

    Each level pairs neighbours left to right; an odd last node goes up unchanged.  An empty
    interval's root is SHA-256 of nothing.
    """
    if not leaves:
        return hashlib.sha256(b"").digest()
    sha256 = hashlib.sha256
    level = [sha256(LEAF_PREFIX + event_id.encode("ascii") + digest).digest() for event_id, digest in sorted(leaves)]
    while len(level) > 1:
        paired = [sha256(NODE_PREFIX + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def pack_leaves(leaves: Sequence[tuple[str, bytes]]) -> bytes:
    """Leaves as stored beside a digest: id ASCII then hash, 58 bytes each, in tree order."""
    return b"".join(event_id.encode("ascii") + digest for event_id, digest in sorted(leaves))


def unpack_leaves(packed: bytes) -> list[tuple[str, bytes]]:
    """The inverse of ``pack_leaves``; a length that is not a whole number of leaves is refused."""
    if len(packed) % PACKED_LEAF_SIZE:
        raise ValueError(f"packed leaves must be a multiple of {PACKED_LEAF_SIZE} bytes, got {len(packed)}")
    return [
        (packed[i : i + EVENT_ID_LENGTH].decode("ascii"), packed[i + EVENT_ID_LENGTH : i + PACKED_LEAF_SIZE])
        for i in range(0, len(packed), PACKED_LEAF_SIZE)
    ]
