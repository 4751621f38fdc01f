"""Event hashes and the Merkle tree over them: the one definition that recording, digesting and both
verifiers use (docs/design.md, "Integrity").  Pure functions: the ``--files`` verifier imports this
without a database or the service secret.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

EVENT_ID_LENGTH = 26
"""Event ids are ULIDs: 26 ASCII characters, so ``id || body`` needs no separator to be unambiguous."""
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
# Distinct prefixes for leaves and inner nodes (as RFC 6962 does), so no leaf can pass for a node.
HASH_SIZE = 32
PACKED_LEAF_SIZE = EVENT_ID_LENGTH + HASH_SIZE


def event_hash(event_id: str, body: str | bytes) -> bytes:
    """SHA-256 of the id's ASCII bytes followed by the stored body's UTF-8 bytes.  (The id is
    encoded as UTF-8, the same bytes for an ASCII id: an id someone forged need not be ASCII, and
    the verifier must hash it, not fail on it.)"""
    body_bytes = body.encode() if isinstance(body, str) else body
    return hashlib.sha256(event_id.encode() + body_bytes).digest()


def leaf_hash(event_id: str, hash_of_event: bytes) -> bytes:
    """A leaf commits to the id as well as the event hash, so a leaf cannot move to another id."""
    return hashlib.sha256(LEAF_PREFIX + event_id.encode("ascii") + hash_of_event).digest()


def merkle_root(leaves: Iterable[tuple[str, bytes]]) -> bytes:
    """The root over ``(event id, event hash)`` pairs, taken in ascending id order (``packed_merkle_root``)."""
    return packed_merkle_root(pack_leaves(leaves))


def packed_merkle_root(packed: bytes) -> bytes:
    """The root over leaves packed in tree order (``pack_leaves``)."""
    return entries_merkle_root(leaf_entries(packed))


def entries_merkle_root(entries: Sequence[bytes]) -> bytes:
    """The root over packed leaves' 58-byte entries (``id ‖ event hash``), in tree order.

    Leaf = SHA-256(0x00 ‖ id ‖ event hash); each level pairs neighbours left to right into
    SHA-256(0x01 ‖ left ‖ right), and an odd last node goes up unchanged.  An empty interval's root
    is SHA-256 of nothing.
    """
    level = leaf_hashes(entries)
    if not level:
        return EMPTY_ROOT
    while len(level) > 1:
        level = parent_level(level)
    return level[0]


EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hashes(entries: Sequence[bytes]) -> list[bytes]:
    """The tree's bottom level.  Flat comprehensions here and in ``parent_level``: a million leaves
    are two million SHA-256 calls, and any Python step more per call shows."""
    sha256 = hashlib.sha256
    return [sha256(LEAF_PREFIX + entry).digest() for entry in entries]


def parent_level(level: Sequence[bytes]) -> list[bytes]:
    """The level above ``level``.  A slice of a level that starts at an even index and has an even
    length (or ends the level) gives the same slice of the level above, so a tree can be computed a
    slice at a time (``api.integrity.tree_steps``)."""
    sha256 = hashlib.sha256
    pairs = iter(level)
    # Not strict: an odd last node is left over by zip, and goes up below.
    paired = [sha256(NODE_PREFIX + left + right).digest() for left, right in zip(pairs, pairs, strict=False)]
    if len(level) % 2:
        paired.append(level[-1])
    return paired


def leaf_entries(packed: bytes) -> list[bytes]:
    """Packed leaves cut into their 58-byte entries.  Ids have one length, so sorting the entries
    sorts by id (then hash, as ``sorted`` orders pairs)."""
    return [packed[i : i + PACKED_LEAF_SIZE] for i in range(0, len(packed), PACKED_LEAF_SIZE)]


def pack_leaves(leaves: Iterable[tuple[str, bytes]]) -> bytes:
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


@dataclass(frozen=True)
class Leaves:
    """An interval's leaves held packed (58 bytes each, in tree order) rather than as a million
    Python pairs; iterating gives ``(id, hash)`` pairs, for the rare caller that needs them."""

    packed: bytes = b""

    @classmethod
    def of(cls, pairs: Iterable[tuple[str, bytes]]) -> Leaves:
        """Leaves from pairs in any order."""
        return cls(pack_leaves(pairs))

    @classmethod
    def from_stored(cls, packed: bytes) -> Leaves:
        """Leaves as a digest row stores them; ``ValueError`` when not a whole number of leaves."""
        if len(packed) % PACKED_LEAF_SIZE:
            raise ValueError(f"packed leaves must be a multiple of {PACKED_LEAF_SIZE} bytes, got {len(packed)}")
        return cls(packed)

    def __len__(self) -> int:
        return len(self.packed) // PACKED_LEAF_SIZE

    def __iter__(self) -> Iterator[tuple[str, bytes]]:
        packed = self.packed
        for i in range(0, len(packed), PACKED_LEAF_SIZE):
            # "replace": an id that is not ASCII (in leaves an attacker wrote) matches no event, never raises.
            event_id = packed[i : i + EVENT_ID_LENGTH].decode("ascii", "replace")
            yield event_id, packed[i + EVENT_ID_LENGTH : i + PACKED_LEAF_SIZE]

    def root(self) -> bytes:
        return packed_merkle_root(self.packed)

    def by_id(self) -> dict[str, bytes]:
        return dict(self)
