"""A digest over many events goes out as several ``audit_trail.digest`` events (its parts), each small
enough for a receiver's body limit; the ``--files`` verifier puts them back together.  A copy missing a
part, or holding a forged one, is caught; a redelivered part is not a problem."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from ulid import ULID

from api import integrity
from api.audit.hashing import Leaves
from api.db import Database
from api.integrity.statement import (
    LEAVES_PER_EVENT,
    DigestPart,
    DigestStatement,
    PartsDisagree,
    SignedDigest,
    assemble,
)
from tests.integrity.support import digest_until, export_copy, kinds, seed_trail
from tests.integrity.test_packed_leaves import random_leaves
from tests.integrity.test_verify_files import public_keys, rewrite_lines

RECEIVER_BODY_LIMIT = 1024 * 1024
"""receivers/s3's default AUDITTRAIL_S3_MAX_BODY_BYTES."""


def signed_digest(count: int, key: integrity.SigningKey, seed: int = 1) -> SignedDigest:
    leaves = Leaves.of(random_leaves(count, random.Random(seed)))
    statement = DigestStatement(
        account_id=str(ULID()),
        account="acme",
        sequence=3,
        interval_start=datetime(2026, 1, 1, 12, 0, tzinfo=UTC),
        interval_end=datetime(2026, 1, 1, 12, 5, tzinfo=UTC),
        event_count=count,
        merkle_root=leaves.root(),
        previous_digest_hash=bytes(32),
        key_id=key.public.key_id,
    )
    return SignedDigest(
        digest_id=str(ULID()), statement=statement, signature=key.sign(statement.signed_bytes()), leaves=leaves
    )


def parts_of(digest: SignedDigest, per_part: int) -> list[DigestPart]:
    """Each part as a receiver gets it: through its JSON."""
    return [DigestPart.from_event_data(orjson.loads(orjson.dumps(data))) for data in digest.event_parts(per_part)]


@pytest.mark.parametrize(("count", "per_part", "expected_offsets"), [
    (0, 3, [0]), (1, 3, [0]), (3, 3, [0]), (4, 3, [0, 3]), (10, 3, [0, 3, 6, 9]),
])  # fmt: skip
def test_a_digest_is_cut_into_parts_at_fixed_offsets_and_put_back_in_any_order(
    keys: integrity.KeyRing, count: int, per_part: int, expected_offsets: list[int]
) -> None:
    digest = signed_digest(count, keys.signing_key)
    parts = parts_of(digest, per_part)
    assert [part.offset for part in parts] == expected_offsets
    assert all(len(part.digest.leaves) <= per_part for part in parts)
    shuffled = [*parts, parts[-1]]  # the last part redelivered
    random.Random(count).shuffle(shuffled)
    assert assemble(shuffled) == digest


def test_a_full_part_fits_a_receivers_default_body_limit(keys: integrity.KeyRing) -> None:
    digest = signed_digest(LEAVES_PER_EVENT + 1, keys.signing_key)
    first, last = digest.event_parts()
    assert len(first["events"]) == LEAVES_PER_EVENT and len(last["events"]) == 1
    envelope = 2_000  # the event's other fields, generously
    assert len(orjson.dumps(first)) + envelope < RECEIVER_BODY_LIMIT


def test_a_digest_with_a_part_missing_is_not_put_together(keys: integrity.KeyRing) -> None:
    parts = parts_of(signed_digest(10, keys.signing_key), 3)
    assert assemble([parts[0], parts[1], parts[3]]) is None
    assert assemble(parts[:3]) is None  # the last one not arrived yet


def test_parts_that_disagree_are_refused(keys: integrity.KeyRing) -> None:
    digest = signed_digest(10, keys.signing_key)
    parts = parts_of(digest, 3)
    forged = DigestPart.from_event_data({**digest.event_parts(3)[1], "events": [[str(ULID()), "00" * 32]] * 3})
    with pytest.raises(PartsDisagree, match="two different parts at offset 3"):
        assemble([*parts, forged])
    other = signed_digest(10, keys.signing_key, seed=2)
    resigned = DigestPart(replace(other, digest_id=digest.digest_id), 0)
    with pytest.raises(PartsDisagree, match="differ in what was signed"):
        assemble([*parts[1:], resigned])


def test_an_event_written_before_digests_had_parts_lists_them_all(keys: integrity.KeyRing) -> None:
    digest = signed_digest(5, keys.signing_key)
    (data,) = digest.event_parts()
    del data["eventsOffset"]
    assert assemble([DigestPart.from_event_data(data)]) == digest


@pytest.mark.parametrize("offset", [-1, "3", 1.5, True])
def test_a_part_with_an_offset_that_is_not_a_whole_number_cannot_be_read(
    keys: integrity.KeyRing, offset: object
) -> None:
    (data,) = signed_digest(2, keys.signing_key).event_parts()
    with pytest.raises(ValueError, match="eventsOffset"):
        DigestPart.from_event_data({**data, "eventsOffset": offset})


async def test_a_copy_of_digests_in_parts_verifies_and_a_missing_or_forged_part_is_caught(
    db: Database, keys: integrity.KeyRing, tmp_path: Path
) -> None:
    """Through the digester and a copy as the S3 receiver writes it: 7 events, 2 per part."""
    trail = await seed_trail(db, count=7)
    await digest_until(db, keys.signing_key, datetime.now(UTC), leaves_per_event=2)
    await digest_until(db, keys.signing_key, datetime.now(UTC) + timedelta(seconds=1), leaves_per_event=2)
    copy = await export_copy(db, tmp_path / "bucket")
    parts = [
        (line["eventId"], line["body"]["data"])
        for line in map(orjson.loads, copy.read_bytes().splitlines())
        if line["body"]["action"] == "audit_trail.digest"
    ]
    first = [(event_id, data) for event_id, data in parts if data["sequence"] == 1]
    assert [data["eventsOffset"] for _, data in first] == [0, 2, 4, 6]
    assert sorted(event_id for _, data in first for event_id, _ in data["events"]) == sorted(trail.event_ids)
    assert kinds(integrity.verify_files(copy.parent, public_keys(keys))) == []

    original = copy.read_bytes()
    missing_part_id, missing_part = first[1]
    rewrite_lines(copy, {missing_part_id: None})
    # The digest is left out of the chain, the two events only the lost part listed are listed by no
    # digest, and the lost part is itself an event a later digest lists.
    expected = {("DIGEST_MISSING", "acme#1"), *(("UNEXPECTED", event_id) for event_id, _ in missing_part["events"])}
    found = set(kinds(integrity.verify_files(copy.parent, public_keys(keys))))
    assert expected <= found <= expected | {("MISSING", missing_part_id)}

    copy.write_bytes(original)
    forged_id, forged = first[2]
    forged["events"][0][1] = "00" * 32
    body = orjson.loads(next(line for line in original.splitlines() if forged_id.encode() in line[:40]))["body"]
    rewrite_lines(copy, {forged_id: orjson.dumps({**body, "data": forged})})
    assert ("BAD_SIGNATURE", first[0][1]["digestId"]) in kinds(integrity.verify_files(copy.parent, public_keys(keys)))
