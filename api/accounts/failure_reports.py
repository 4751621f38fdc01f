"""Failed logins of one key id counted in Redis, one report per window, instead of one event per attempt.

A key id's first failure opens a report (and is recorded as an event of its own, as any failure
used to be); the failures and refused attempts that follow in the window are only counted.  A
report is closed when its window has ended, by the worker's cron or by the key id's next failure,
whichever comes first: closing renames it out of the way in one script, so no failure is counted
twice or lost between windows.  A closed report stays in Redis until its summary event has been
committed (at least once: a worker that dies after committing leaves it to be recorded again).
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from api.accounts.login_limits import PREFIX, key_digest

MAX_REPORTED_ADDRESSES = 50
"""Addresses kept per report: enough to block, bounded against a botnet filling Redis."""
DUE = f"{PREFIX}:reports:due"
"""Open reports by the time their window ends (member: the key id's digest)."""
CLOSED = f"{PREFIX}:reports:closed"
"""Names of closed reports whose summary is still to be recorded."""
CLOSED_PREFIX = f"{PREFIX}:closed:"


def report_key(key_id: str) -> str:
    """The open report of a key id (a hash: key_id, started, ends, failed, limited)."""
    return f"{PREFIX}:report:{key_digest(key_id)}"


# Closes the open report KEYS[1] (addresses KEYS[2]) of digest ARGV[1] into CLOSED_PREFIX..digest..started.
_CLOSE_FUNCTION = """
local function close(report, addresses, due, closed_set, digest, closed_prefix)
  local started = redis.call('HGET', report, 'started')
  local closed = closed_prefix .. digest .. ':' .. started
  redis.call('RENAME', report, closed)
  if redis.call('EXISTS', addresses) == 1 then redis.call('RENAME', addresses, closed .. ':addresses') end
  redis.call('ZREM', due, digest)
  redis.call('SADD', closed_set, closed)
end
"""

# KEYS: report, its addresses, DUE, CLOSED.  ARGV: now ms, window ms, digest, key id, address,
# CLOSED_PREFIX, MAX_REPORTED_ADDRESSES.  Returns 1 when this failure opened the report.
_COUNT = (
    _CLOSE_FUNCTION
    + """
local now = tonumber(ARGV[1])
local ends = redis.call('HGET', KEYS[1], 'ends')
if ends and now >= tonumber(ends) then
  close(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[3], ARGV[6])
  ends = false
end
local opened = 0
if ends then
  redis.call('HINCRBY', KEYS[1], 'failed', 1)
else
  local window_end = now + tonumber(ARGV[2])
  redis.call('HSET', KEYS[1], 'key_id', ARGV[4], 'started', now, 'ends', window_end, 'failed', 1, 'limited', 0)
  redis.call('ZADD', KEYS[3], window_end, ARGV[3])
  opened = 1
end
if redis.call('SCARD', KEYS[2]) < tonumber(ARGV[7]) then redis.call('SADD', KEYS[2], ARGV[5]) end
return opened
"""
)

# KEYS: report, its addresses, DUE, CLOSED.  ARGV: now ms, digest, CLOSED_PREFIX.
_CLOSE_IF_ENDED = (
    _CLOSE_FUNCTION
    + """
local ends = redis.call('HGET', KEYS[1], 'ends')
if not ends then
  redis.call('ZREM', KEYS[3], ARGV[2])
  return 0
end
if tonumber(ARGV[1]) < tonumber(ends) then return 0 end
close(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[2], ARGV[3])
return 1
"""
)


@dataclass(frozen=True, kw_only=True)
class ClosedReport:
    """What a key id's window of failures amounts to."""

    name: str
    key_id: str
    started_ms: int
    ends_ms: int
    failed: int
    """Wrong secrets checked in the window, the first (recorded on its own) included."""
    limited: int
    """Attempts refused unchecked by the limits while the window was open."""
    addresses: list[str]

    @property
    def adds_to_the_first_event(self) -> bool:
        """A window of a single failure is told entirely by that failure's own event."""
        return self.failed > 1 or self.limited > 0


class FailureReports:
    """The reports of failed logins; every method may raise Redis's errors."""

    def __init__(self, redis: Redis, *, window_seconds: int) -> None:
        self._redis = redis
        self._window_ms = window_seconds * 1000
        self._count = redis.register_script(_COUNT)
        self._close_if_ended = redis.register_script(_CLOSE_IF_ENDED)

    async def count_failure(self, key_id: str, address: str, *, now_ms: int) -> bool:
        """Count a wrong secret for ``key_id``; True when it opened a window (its event is recorded)."""
        report = report_key(key_id)
        opened = await self._count(
            keys=[report, f"{report}:addresses", DUE, CLOSED],
            args=[now_ms, self._window_ms, key_digest(key_id), key_id, address, CLOSED_PREFIX, MAX_REPORTED_ADDRESSES],
        )
        return int(opened) == 1

    async def close_ended(self, *, now_ms: int) -> int:
        """Close every open report whose window ended by ``now_ms``; returns how many."""
        closed = 0
        for digest in await self._redis.zrangebyscore(DUE, "-inf", now_ms):
            name = _text(digest)
            report = f"{PREFIX}:report:{name}"
            closed += int(
                await self._close_if_ended(
                    keys=[report, f"{report}:addresses", DUE, CLOSED], args=[now_ms, name, CLOSED_PREFIX]
                )
            )
        return closed

    async def claim_closed(self, *, lease_seconds: int) -> list[ClosedReport]:
        """The closed reports no other worker is recording; each is leased for ``lease_seconds`` (a worker
        that dies leaves it to the next run once the lease is over)."""
        claimed: list[ClosedReport] = []
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.smembers(CLOSED)
            (names,) = await pipe.execute()
        for name in sorted(_text(raw_name) for raw_name in names):
            if not await self._redis.set(f"{name}:claim", 1, nx=True, ex=lease_seconds):
                continue
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hgetall(name)
                pipe.smembers(f"{name}:addresses")
                raw_fields, raw_addresses = await pipe.execute()
            fields = {_text(k): _text(v) for k, v in raw_fields.items()}
            if not fields:  # recorded and forgotten by a run whose lease ran out meanwhile
                await self.forget(name)
                continue
            claimed.append(
                ClosedReport(
                    name=name,
                    key_id=fields["key_id"],
                    started_ms=int(fields["started"]),
                    ends_ms=int(fields["ends"]),
                    failed=int(fields["failed"]),
                    limited=int(fields["limited"]),
                    addresses=sorted(_text(address) for address in raw_addresses),
                )
            )
        return claimed

    async def forget(self, name: str) -> None:
        """A closed report whose summary is committed (or that needs none) goes."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(name, f"{name}:addresses", f"{name}:claim")
            pipe.srem(CLOSED, name)
            await pipe.execute()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
