"""The digester's reading of its leaves from PostgreSQL's binary ``COPY`` stream: whatever pieces
the stream arrives in, the leaves and their hashes are the documented ones, in tree order; a stream
that is not rows of 58-byte leaves is refused rather than cut at the wrong places."""

from __future__ import annotations

import random

import pytest

from api.audit.hashing import leaf_hashes, pack_leaves
from api.db import Database, driver_connection
from api.integrity.leaf_level import CopiedLeaves, UnexpectedCopyData
from api.integrity.tree_steps import merkle_root_in_steps
from tests.integrity.test_packed_leaves import documented_root, random_leaves

LEAF_ROWS = (
    "SELECT convert_to(i, 'UTF8') || h FROM unnest($1::text[], $2::bytea[]) WITH ORDINALITY AS t(i, h, n) ORDER BY n"
)


async def copy_stream(db: Database, query: str, *args: object, **options: object) -> bytes:
    """The bytes PostgreSQL sends for ``COPY (query) TO STDOUT``, as the digester receives them."""
    pieces: list[bytes] = []

    async def keep(piece: bytes) -> None:
        pieces.append(piece)

    async with db.transaction() as session:
        connection = await driver_connection(session)
        await connection.copy_from_query(query, *args, output=keep, **options)
    return b"".join(pieces)


async def leaf_stream(db: Database, leaves: list[tuple[str, bytes]]) -> bytes:
    ids, hashes = [event_id for event_id, _ in leaves], [digest for _, digest in leaves]
    return await copy_stream(db, LEAF_ROWS, ids, hashes, format="binary")


async def fed(stream: bytes, cuts: list[int]) -> CopiedLeaves:
    copied = CopiedLeaves()
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        await copied.take(stream[start:end])
    copied.ended()
    return copied


def random_cuts(length: int, rng: random.Random) -> list[int]:
    return sorted(rng.sample(range(1, length), min(length - 1, 40)))


@pytest.mark.parametrize("count", [0, 1, 3, 1500])
async def test_leaves_read_in_any_pieces_are_the_documented_leaves_in_tree_order(db: Database, count: int) -> None:
    rng = random.Random(count)
    leaves = random_leaves(count, rng)
    stream = await leaf_stream(db, leaves)
    for cuts in ([], list(range(1, len(stream))), random_cuts(len(stream), rng)):  # whole, byte by byte, at random
        copied = await fed(stream, cuts)
        level = copied.as_read() if copied.in_order else copied.sorted()
        assert copied.in_order == (leaves == sorted(leaves) and len(set(leaves)) == len(leaves))
        assert level.leaves.packed == pack_leaves(leaves)
        assert level.hashes == leaf_hashes([event_id.encode() + digest for event_id, digest in sorted(leaves)])
        assert await merkle_root_in_steps(level.hashes) == documented_root(leaves)


async def test_leaves_read_in_id_order_are_kept_as_read(db: Database) -> None:
    leaves = sorted(random_leaves(300, random.Random(5)))
    copied = await fed(await leaf_stream(db, leaves), random_cuts(300 * 64, random.Random(6)))
    assert copied.in_order
    assert copied.as_read().leaves.packed == pack_leaves(leaves)


async def test_a_row_that_is_not_one_whole_leaf_is_refused(db: Database) -> None:
    """One row a byte short (as a leaf of a 25-character id would be) puts the stride off."""
    leaves = random_leaves(50, random.Random(9))
    ids, hashes = [event_id for event_id, _ in leaves], [digest for _, digest in leaves]
    ids[20] = ids[20][:25]
    stream = await copy_stream(db, LEAF_ROWS, ids, hashes, format="binary")
    with pytest.raises(UnexpectedCopyData, match="not one 58-byte leaf"):
        await fed(stream, [])


async def test_a_stream_cut_short_or_not_binary_is_refused(db: Database) -> None:
    stream = await leaf_stream(db, random_leaves(10, random.Random(10)))
    with pytest.raises(UnexpectedCopyData, match="ended inside a row or without its trailer"):
        await fed(stream[:-30], [])
    with pytest.raises(UnexpectedCopyData, match="ended inside a row or without its trailer"):
        await fed(stream[:-2], [])
    leaves = random_leaves(3, random.Random(11))
    text_stream = await copy_stream(db, LEAF_ROWS, [i for i, _ in leaves], [h for _, h in leaves], format="text")
    with pytest.raises(UnexpectedCopyData, match="binary signature"):
        await fed(text_stream, [])


async def test_an_empty_interval_is_a_header_and_a_trailer(db: Database) -> None:
    copied = await fed(await leaf_stream(db, []), [])
    assert copied.in_order and copied.as_read().leaves.packed == b"" and copied.hashes == []
