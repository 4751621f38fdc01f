"""Our ULIDs (api/ulids.py): what python-ulid makes of them, and the order they keep."""

from __future__ import annotations

import time

import pytest
from ulid import ULID

from api.models import new_id
from api.ulids import MAX_TIMESTAMP_MS, MonotonicUlids


@pytest.mark.parametrize("timestamp_ms", [0, 1, 1_700_000_000_123, 1_799_999_999_999, MAX_TIMESTAMP_MS])
def test_an_id_is_a_ulid_of_its_millisecond(timestamp_ms: int) -> None:
    made = MonotonicUlids().at(timestamp_ms)
    parsed = ULID.from_str(made)
    assert str(parsed) == made and len(made) == 26
    assert parsed.milliseconds == timestamp_ms


def test_ids_of_one_millisecond_increase_in_the_order_they_are_made() -> None:
    ulids = MonotonicUlids()
    made = [ulids.at(1_700_000_000_123) for _ in range(1_000)]
    assert made == sorted(made) and len(set(made)) == 1_000
    randomness = [int.from_bytes(ULID.from_str(ulid).bytes[6:]) for ulid in made]
    assert randomness == list(range(randomness[0], randomness[0] + 1_000))


def test_ids_sort_by_their_time_whatever_order_they_are_made_in() -> None:
    ulids = MonotonicUlids()
    times = [1_700_000_000_500, 1_700_000_000_001, 1_700_000_000_500, 1_699_999_999_999, 1_700_086_400_000]
    made = [(timestamp_ms, ulids.at(timestamp_ms)) for timestamp_ms in times]
    assert [ulid for _, ulid in sorted(made)] == sorted(ulid for _, ulid in made)


def test_ids_of_another_millisecond_start_from_fresh_randomness() -> None:
    ulids = MonotonicUlids()
    randomness = {ULID.from_str(ulids.at(timestamp_ms)).bytes[6:] for timestamp_ms in range(1, 101)}
    assert len(randomness) == 100


@pytest.mark.parametrize("timestamp_ms", [-1, MAX_TIMESTAMP_MS + 1])
def test_a_time_a_ulid_cannot_hold_is_refused(timestamp_ms: int) -> None:
    with pytest.raises(ValueError, match="ms since the epoch"):
        MonotonicUlids().at(timestamp_ms)


def test_new_ids_carry_the_current_time_and_increase() -> None:
    before = time.time_ns() // 1_000_000
    made = [new_id() for _ in range(100)]
    after = time.time_ns() // 1_000_000
    assert made == sorted(made) and len(set(made)) == 100
    assert all(before <= ULID.from_str(ulid).milliseconds <= after for ulid in made)
