"""An interval's leaves and the tree's bottom level, hashed here as PostgreSQL streams the leaves.

The digester reads the leaves (``id ‖ event hash``, 58 bytes each) with ``COPY (...) TO STDOUT`` in
binary format: PostgreSQL sends the rows as it reads them, so the leaf hashes (a million
``hashlib`` calls, about 0.6 s) are computed on this core while PostgreSQL reads on its own,
instead of after one aggregated value arrives.  The rows cost no Python object each: every binary
row here has the same 64 bytes (a field count of 1, a length of 58, the leaf), so a stream is cut at
a fixed stride.

The leaves arrive in the order rows were read, not in tree order.  Rows are mostly stored in id
order, so the common case is a check in one pass; otherwise leaves and hashes are put in tree order
together.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import islice

from api.audit.hashing import PACKED_LEAF_SIZE, Leaves, leaf_hashes

COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
"""The binary ``COPY`` header: its signature, no flags (no OIDs), no header extension."""
ROW_PREFIX = b"\x00\x01" + PACKED_LEAF_SIZE.to_bytes(4, "big")
"""Each row's field count (one) and its one field's length (a whole leaf)."""
ROW_SIZE = len(ROW_PREFIX) + PACKED_LEAF_SIZE
TRAILER = b"\xff\xff"


class UnexpectedCopyData(ValueError):
    """The stream is not the binary rows of 58-byte leaves that the digester's query returns."""


@dataclass(frozen=True)
class LeafLevel:
    """The leaves as stored beside the digest, and the tree's bottom level, both in tree order."""

    leaves: Leaves
    hashes: list[bytes]


@dataclass
class CopiedLeaves:
    """Takes the ``COPY`` stream a piece at a time (``take`` is asyncpg's ``output``) and hashes
    each piece's leaves as it comes; or a small interval's leaves read joined (``take_joined``)."""

    entries: list[bytes] = field(default_factory=list)
    hashes: list[bytes] = field(default_factory=list)
    in_order: bool = True
    """Whether every entry so far came after the one before it (checked a piece at a time, while
    PostgreSQL reads on)."""
    _packed: list[bytes] = field(default_factory=list)
    """Each piece's entries joined: in order, the stored leaves are these joined, without a pass over
    a million entries once the stream has ended."""
    _rest: bytes = b""
    _header_read: bool = False

    async def take(self, piece: bytes) -> None:
        pending = self._rest + piece
        start = 0
        if not self._header_read:
            if len(pending) < len(COPY_SIGNATURE):
                self._rest = pending
                return
            if not pending.startswith(COPY_SIGNATURE):
                raise UnexpectedCopyData("the leaves' COPY did not start with the binary signature")
            self._header_read, start = True, len(COPY_SIGNATURE)
        whole = (len(pending) - start) // ROW_SIZE
        end = start + whole * ROW_SIZE
        # The first and the last row of each piece are checked: a row of another width would put every
        # row after it off the stride, so it shows within the piece it is in.
        if whole and not (pending.startswith(ROW_PREFIX, start) and pending.startswith(ROW_PREFIX, end - ROW_SIZE)):
            raise UnexpectedCopyData("a row of the leaves' COPY is not one 58-byte leaf")
        entries = [pending[i + len(ROW_PREFIX) : i + ROW_SIZE] for i in range(start, end, ROW_SIZE)]
        self._rest = pending[end:]
        self._add(entries)

    def take_joined(self, joined: bytes) -> None:
        """Every leaf of an interval joined into one value instead of streamed (``leaves_recorded_in``'s
        small intervals), in the order read."""
        if len(joined) % PACKED_LEAF_SIZE:
            raise UnexpectedCopyData("the joined leaves are not a whole number of 58-byte leaves")
        self._add([joined[i : i + PACKED_LEAF_SIZE] for i in range(0, len(joined), PACKED_LEAF_SIZE)])

    def _add(self, entries: list[bytes]) -> None:
        if not entries:
            return
        if self.in_order:
            follows = not self.entries or self.entries[-1] < entries[0]
            self.in_order = follows and all(a < b for a, b in zip(entries, islice(entries, 1, None), strict=False))
        self._packed.append(b"".join(entries))
        self.entries += entries
        self.hashes += leaf_hashes(entries)

    def ended(self) -> None:
        """Refuses a stream that ended inside a row or without its trailer."""
        if not self._header_read or self._rest != TRAILER:
            raise UnexpectedCopyData("the leaves' COPY ended inside a row or without its trailer")

    def as_read(self) -> LeafLevel:
        """The leaves and hashes in the order read: tree order when ``in_order``."""
        return LeafLevel(Leaves(b"".join(self._packed)), self.hashes)

    def sorted(self) -> LeafLevel:
        """The leaves and their hashes put in tree order (ascending entry)."""
        order = sorted(range(len(self.entries)), key=self.entries.__getitem__)
        return LeafLevel(Leaves(b"".join([self.entries[i] for i in order])), [self.hashes[i] for i in order])
