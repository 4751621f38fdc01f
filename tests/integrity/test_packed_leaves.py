"""The packed forms the digester and the verifiers work on agree with the documented definitions:
the Merkle root over packed bytes with the tree as docs/design.md defines it, the leaves' packing,
and the ULID time read without a ULID parse with the parse itself.  Pure: no database."""

from __future__ import annotations

import hashlib
import random

import pytest
from ulid import ULID

from api.audit.hashing import Leaves, leaf_entries, merkle_root, pack_leaves, packed_merkle_root, unpack_leaves
from api.integrity.columns import id_milliseconds


def documented_root(leaves: list[tuple[str, bytes]]) -> bytes:
    """docs/design.md's definition, written as plainly as possible: the reference to agree with."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    level = [hashlib.sha256(b"\x00" + event_id.encode() + digest).digest() for event_id, digest in sorted(leaves)]
    while len(level) > 1:
        next_level = []
        for i in range(0, len(level), 2):
            pair = level[i : i + 2]
            next_level.append(hashlib.sha256(b"\x01" + pair[0] + pair[1]).digest() if len(pair) == 2 else pair[0])
        level = next_level
    return level[0]


def random_leaves(count: int, rng: random.Random) -> list[tuple[str, bytes]]:
    return [(str(ULID.from_timestamp(rng.uniform(1e9, 2e9))), rng.randbytes(32)) for _ in range(count)]


@pytest.mark.parametrize("count", [0, 1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 31, 33, 100, 1025])
def test_the_root_over_packed_leaves_is_the_documented_root(count: int) -> None:
    leaves = random_leaves(count, random.Random(count))
    expected = documented_root(leaves)
    assert packed_merkle_root(pack_leaves(leaves)) == expected
    assert merkle_root(reversed(leaves)) == expected  # pairs in any order are sorted first
    assert Leaves.of(leaves).root() == expected


def test_sorted_entries_give_the_tree_order_of_pairs() -> None:
    leaves = random_leaves(500, random.Random(7))
    shuffled = b"".join(event_id.encode() + digest for event_id, digest in leaves)
    in_tree_order = b"".join(sorted(leaf_entries(shuffled)))
    assert in_tree_order == pack_leaves(leaves)
    assert list(Leaves(in_tree_order)) == sorted(leaves)
    assert unpack_leaves(in_tree_order) == sorted(leaves)


def test_stored_leaves_that_are_not_whole_are_refused() -> None:
    packed = pack_leaves(random_leaves(3, random.Random(3)))
    assert len(Leaves.from_stored(packed)) == 3
    with pytest.raises(ValueError, match="multiple of 58"):
        Leaves.from_stored(packed[:-1])


def test_leaves_with_an_id_that_is_not_ascii_iterate_without_raising() -> None:
    """Leaves an attacker wrote: the id matches no event (reported), it never stops verification."""
    leaves = Leaves.from_stored("é".encode() + b"A" * 24 + bytes(32))
    [(event_id, digest)] = list(leaves)
    assert len(event_id) == 26 and "A" * 24 in event_id
    assert digest == bytes(32)


CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def ulid_milliseconds(prefix: str) -> int | None:
    """What python-ulid makes of an id's first 10 characters: the reference to agree with."""
    try:
        return ULID.from_str(prefix + "0" * 16).milliseconds
    except ValueError:
        return None


def test_id_time_is_read_as_python_ulid_reads_it() -> None:
    rng = random.Random(15)
    # Crockford digits in both cases, letters Crockford leaves out, other ASCII (int() would take
    # "_", "+", " "), digits of other scripts (int() would take "٣"), and lengths around 10.
    alphabet = CROCKFORD + CROCKFORD.lower() + "ILOUilou_+- é٣\x00"
    samples = [str(ULID.from_timestamp(rng.uniform(0, 2**48 / 1000 - 1)))[:10] for _ in range(2000)]
    samples += ["7ZZZZZZZZZ", "8000000000", "0000000000", "01kq000000", "1_23456789", " 123456789", "+123456789"]
    for _ in range(20000):
        length = rng.choice([9, 10, 10, 10, 11])
        samples.append(rng.choice("01234567") + "".join(rng.choice(alphabet) for _ in range(length - 1)))
    assert [id_milliseconds(sample) for sample in samples] == [ulid_milliseconds(sample) for sample in samples]
