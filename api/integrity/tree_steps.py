"""The Merkle root computed on the event loop a slice at a time, handing the loop a turn between slices.

The digester sends an interval's leaves to PostgreSQL (tens of MB in one INSERT) while it computes
their tree.  In a thread, the tree would hold the GIL and the loop would wait up to the switch
interval (5 ms) for each socket buffer it writes: a 58 MB INSERT took about a second longer to go
out.  A turn every ``TREE_STEP`` hashes (about a millisecond) lets the loop write the INSERT out at
once, so PostgreSQL stores it on its core while this one hashes, and the worker goes on delivering.

It starts from the tree's bottom level (the leaf hashes), not from the entries: the digester has
PostgreSQL hash the leaves while it reads them (``api.integrity.leaf_level``).
"""

from __future__ import annotations

import asyncio

from api.audit.hashing import EMPTY_ROOT, parent_level

TREE_STEP = 1024
"""Hashes between two turns of the loop.  Even, so every slice but a level's last pairs within itself."""


async def merkle_root_in_steps(leaf_level: list[bytes], step: int = TREE_STEP) -> bytes:
    """The root above ``leaf_level`` (``leaf_hashes`` of the entries in tree order): the same bytes
    as ``entries_merkle_root``, in slices of ``step`` hashes."""
    if step < 2 or step % 2:
        raise ValueError(f"step must be an even number of at least 2, got {step}")
    if not leaf_level:
        return EMPTY_ROOT
    level = leaf_level
    while len(level) > 1:
        above: list[bytes] = []
        for start in range(0, len(level), step):
            above += parent_level(level[start : start + step])
            await asyncio.sleep(0)
        level = above
    return level[0]
