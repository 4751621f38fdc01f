"""ULIDs as strings, made without building a ``ULID`` object for each.

An ingestion batch of 500 events needs 1,000 ids (an event's and its delivery's); python-ulid spent
about 40 µs on each (an object, a policy call, Crockford base32 one character at a time), half the
cost of building the events.  Here an id is two string lookups: the time's 10 characters, kept for
the last millisecond (a batch's events mostly share one), and the randomness's 16, two characters
(10 bits) at a time from a table.  The order is python-ulid's default (``StrictMonotonicPolicy``):
ids of the same millisecond made by one process increase in the order they are made (the random
part of the previous one plus one), so the events of a batch and their deliveries sort in the batch's
order; ids of different milliseconds sort by time.
"""

from __future__ import annotations

import os
import threading
import time

TIMESTAMP_BITS = 48
RANDOMNESS_BITS = 80
MAX_TIMESTAMP_MS = (1 << TIMESTAMP_BITS) - 1
MAX_RANDOMNESS = (1 << RANDOMNESS_BITS) - 1
CROCKFORD_BASE32 = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_PAIRS = [CROCKFORD_BASE32[bits >> 5] + CROCKFORD_BASE32[bits & 31] for bits in range(1024)]
"""The two characters of each 10-bit value."""


def _encoded_time(timestamp_ms: int) -> str:
    """The first 10 characters of a ULID: 48 bits of time as 50, the top 2 zero."""
    pairs = _PAIRS
    return "".join(pairs[(timestamp_ms >> shift) & 1023] for shift in (40, 30, 20, 10, 0))


def _encoded_randomness(randomness: int) -> str:
    """The last 16 characters of a ULID: its 80 random bits."""
    pairs = _PAIRS
    return (
        pairs[randomness >> 70]
        + pairs[(randomness >> 60) & 1023]
        + pairs[(randomness >> 50) & 1023]
        + pairs[(randomness >> 40) & 1023]
        + pairs[(randomness >> 30) & 1023]
        + pairs[(randomness >> 20) & 1023]
        + pairs[(randomness >> 10) & 1023]
        + pairs[randomness & 1023]
    )


class MonotonicUlids:
    """Makes ULID strings that increase within a millisecond; one per process, shared by threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_ms = -1
        self._last_randomness = 0
        self._last_time_text = ""

    def at(self, timestamp_ms: int) -> str:
        """A ULID carrying ``timestamp_ms``, above every earlier one of the same millisecond."""
        if not 0 <= timestamp_ms <= MAX_TIMESTAMP_MS:
            raise ValueError(f"a ULID holds 0 to {MAX_TIMESTAMP_MS} ms since the epoch, got {timestamp_ms}")
        with self._lock:
            if timestamp_ms == self._last_ms:
                randomness = self._last_randomness + 1
                if randomness > MAX_RANDOMNESS:
                    # Needs 2**80 ids in one millisecond, or a random start within a batch of the top.
                    raise ValueError("ULID randomness within one millisecond exhausted")
            else:
                randomness = int.from_bytes(os.urandom(RANDOMNESS_BITS // 8))
                self._last_ms, self._last_time_text = timestamp_ms, _encoded_time(timestamp_ms)
            self._last_randomness = randomness
            time_text = self._last_time_text
        return time_text + _encoded_randomness(randomness)

    def now(self) -> str:
        """A ULID of the current time."""
        return self.at(time.time_ns() // 1_000_000)


ULIDS = MonotonicUlids()
"""The process's generator: every id of ours comes from it, so ids of one millisecond keep their order."""
