"""Sliding windows of failed logins in Redis: per client address, and per key id for the addresses that failed it.

Each window is a sorted set of attempts scored by their time in milliseconds.  An attempt is admitted
(and reserved in both windows) by one Lua script, so concurrent attempts cannot all slip under a limit
between a check and a write; a login that succeeds takes its reservation back.  A refused attempt adds
nothing to the windows: hammering a limited address costs Redis no memory.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass

from redis.asyncio import Redis

from api.digests import sha256_hex

PREFIX = "audittrail:login"


@dataclass(frozen=True, kw_only=True)
class LoginLimits:
    """``AUDITTRAIL_LOGIN_*``: how many failures each window allows, and how long Redis may take."""

    per_address: int
    address_window_seconds: int
    per_key: int
    key_window_seconds: int
    redis_timeout_seconds: float


@dataclass(frozen=True)
class LimitKeys:
    """The Redis keys of one attempt: its address's window, its key id's window and the addresses that
    failed that key id.  Key ids are hashed: an id is whatever a client sent, of any length."""

    address_window: str
    key_window: str
    key_failed_addresses: str

    @classmethod
    def of(cls, key_id: str, address: str) -> LimitKeys:
        key = f"{PREFIX}:key:{key_digest(key_id)}"
        return cls(
            address_window=f"{PREFIX}:address:{address}", key_window=key, key_failed_addresses=f"{key}:addresses"
        )


def key_digest(key_id: str) -> str:
    """The Redis name of a key id: fixed length whatever was sent."""
    return sha256_hex(key_id)[:32]


@dataclass(frozen=True)
class Reservation:
    """An admitted attempt, counted as a failure in both windows until it succeeds."""

    keys: LimitKeys
    address: str
    member: str


# KEYS: address window, key window, addresses that failed the key, the key's open failure report.
# ARGV: now ms, address window ms, per address, key window ms, per key, address, attempt member.
# Returns 0 when admitted (and reserved), else the milliseconds until an attempt would be.
_ADMIT = """
local now = tonumber(ARGV[1])
local address_window, per_address = tonumber(ARGV[2]), tonumber(ARGV[3])
local key_window, per_key = tonumber(ARGV[4]), tonumber(ARGV[5])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - address_window)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - key_window)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - key_window)
local wait = 0
if redis.call('ZCARD', KEYS[1]) >= per_address then
  local nth = redis.call('ZRANGE', KEYS[1], -per_address, -per_address, 'WITHSCORES')
  wait = tonumber(nth[2]) + address_window - now
end
local failed_here = redis.call('ZSCORE', KEYS[3], ARGV[6])
if failed_here and redis.call('ZCARD', KEYS[2]) >= per_key then
  local nth = redis.call('ZRANGE', KEYS[2], -per_key, -per_key, 'WITHSCORES')
  wait = math.max(wait, math.min(tonumber(nth[2]), tonumber(failed_here)) + key_window - now)
end
if wait > 0 then
  local ends = redis.call('HGET', KEYS[4], 'ends')
  if ends and now < tonumber(ends) then redis.call('HINCRBY', KEYS[4], 'limited', 1) end
  return wait
end
redis.call('ZADD', KEYS[1], now, ARGV[7])
redis.call('PEXPIRE', KEYS[1], address_window)
redis.call('ZADD', KEYS[2], now, ARGV[7])
redis.call('PEXPIRE', KEYS[2], key_window)
return 0
"""


class LoginLimiter:
    """Admits login attempts under ``LoginLimits``; every method may raise Redis's errors (the guard
    decides what a missing Redis means)."""

    def __init__(self, redis: Redis, limits: LoginLimits) -> None:
        self._redis = redis
        self._limits = limits
        self._admit = redis.register_script(_ADMIT)

    async def admit(self, key_id: str, address: str, *, report_key: str, now_ms: int) -> Reservation | int:
        """A reservation, or the seconds until this address may try this key id again.

        Refused when the address has failed ``per_address`` times in its window, whatever the key ids,
        or when the key id has failed ``per_key`` times in its window and this address is one that
        failed it.  An address that never failed the key is still checked: the key's owner is not
        locked out by someone else's guesses.  A refused attempt is counted in the open failure report
        of the key id (``report_key``), never written anywhere else.
        """
        limits = self._limits
        keys = LimitKeys.of(key_id, address)
        member = f"{now_ms}:{secrets.token_hex(4)}"
        wait_ms = await self._admit(
            keys=[keys.address_window, keys.key_window, keys.key_failed_addresses, report_key],
            args=[
                now_ms,
                limits.address_window_seconds * 1000,
                limits.per_address,
                limits.key_window_seconds * 1000,
                limits.per_key,
                address,
                member,
            ],
        )
        if int(wait_ms) > 0:
            return max(1, math.ceil(int(wait_ms) / 1000))
        return Reservation(keys=keys, address=address, member=member)

    async def mark_failed(self, reservation: Reservation, *, now_ms: int) -> None:
        """The reserved attempt failed: it stays in both windows, and its address is one that failed the key."""
        keys = reservation.keys
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zadd(keys.key_failed_addresses, {reservation.address: now_ms})
            pipe.pexpire(keys.key_failed_addresses, self._limits.key_window_seconds * 1000)
            await pipe.execute()

    async def release(self, reservation: Reservation) -> None:
        """The reserved attempt logged in, or could not be checked: it is no failure, in either window."""
        keys = reservation.keys
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zrem(keys.address_window, reservation.member)
            pipe.zrem(keys.key_window, reservation.member)
            await pipe.execute()
