"""The root the digester computes a slice at a time (between turns of the event loop) is the
documented root, for every way the slices can fall on the levels: a step that divides a level,
one that leaves an odd last slice, and a level shorter than one step."""

from __future__ import annotations

import random

import pytest

from api.audit.hashing import leaf_entries, leaf_hashes, pack_leaves
from api.integrity.tree_steps import merkle_root_in_steps
from tests.integrity.test_packed_leaves import documented_root, random_leaves


@pytest.mark.parametrize("step", [2, 4, 6, 1024])
@pytest.mark.parametrize("count", [0, 1, 2, 3, 5, 7, 8, 9, 13, 16, 17, 33, 100])
async def test_the_root_in_steps_is_the_documented_root(count: int, step: int) -> None:
    leaves = random_leaves(count, random.Random(count * 31 + step))
    entries = leaf_entries(pack_leaves(leaves))
    assert await merkle_root_in_steps(leaf_hashes(entries), step) == documented_root(leaves)


@pytest.mark.parametrize("step", [0, 1, 3, -2])
async def test_a_step_that_cannot_pair_within_itself_is_refused(step: int) -> None:
    with pytest.raises(ValueError, match=f"even number of at least 2, got {step}"):
        await merkle_root_in_steps([bytes(32)] * 4, step)
