"""Failure reports in the real Redis, at chosen times: windows close on the next failure or on the cron,
no failure is lost or counted twice between windows, and a closed report is recorded by one worker."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from arq.connections import ArqRedis, RedisSettings, create_pool

from api.accounts.failure_reports import FailureReports
from api.db import Database
from api.models import new_id
from api.settings import Settings

WINDOW_MS = 60_000
T0 = 1_800_000_000_000


@pytest.fixture
async def redis(settings: Settings, db: Database) -> AsyncIterator[ArqRedis]:
    """The test Redis (emptied before each test, which asking for ``db`` arranges)."""
    pool = await create_pool(RedisSettings.from_dsn(settings.redis_url or ""))
    yield pool
    await pool.aclose()


async def test_the_next_failure_after_a_window_closes_it_and_opens_the_next(redis: ArqRedis) -> None:
    reports = FailureReports(redis, window_seconds=WINDOW_MS // 1000)
    key_id = new_id()

    opened = [
        await reports.count_failure(key_id, "198.51.100.1", now_ms=T0),
        await reports.count_failure(key_id, "198.51.100.2", now_ms=T0 + 10),
        await reports.count_failure(key_id, "198.51.100.1", now_ms=T0 + WINDOW_MS - 1),
        await reports.count_failure(key_id, "198.51.100.3", now_ms=T0 + WINDOW_MS),
    ]
    [first_window] = await reports.claim_closed(lease_seconds=60)

    assert opened == [True, False, False, True]
    assert (first_window.key_id, first_window.failed, first_window.limited) == (key_id, 3, 0)
    assert (first_window.started_ms, first_window.ends_ms) == (T0, T0 + WINDOW_MS)
    assert first_window.addresses == ["198.51.100.1", "198.51.100.2"]
    assert first_window.adds_to_the_first_event


async def test_the_cron_closes_ended_windows_only_and_a_single_failure_needs_no_summary(redis: ArqRedis) -> None:
    reports = FailureReports(redis, window_seconds=WINDOW_MS // 1000)
    lone, busy = new_id(), new_id()
    await reports.count_failure(lone, "198.51.100.1", now_ms=T0)
    await reports.count_failure(busy, "198.51.100.1", now_ms=T0 + 5_000)
    await reports.count_failure(busy, "198.51.100.1", now_ms=T0 + 6_000)

    closed_early = await reports.close_ended(now_ms=T0 + WINDOW_MS - 1)
    closed_on_time = await reports.close_ended(now_ms=T0 + WINDOW_MS)
    [lone_report] = await reports.claim_closed(lease_seconds=60)
    closed_later = await reports.close_ended(now_ms=T0 + WINDOW_MS + 5_000)
    [busy_report] = await reports.claim_closed(lease_seconds=60)

    assert (closed_early, closed_on_time, closed_later) == (0, 1, 1)
    assert lone_report.key_id == lone and not lone_report.adds_to_the_first_event
    assert busy_report.key_id == busy and busy_report.failed == 2


async def test_a_claimed_report_is_left_alone_until_forgotten_or_its_lease_ends(redis: ArqRedis) -> None:
    reports = FailureReports(redis, window_seconds=WINDOW_MS // 1000)
    key_id = new_id()
    await reports.count_failure(key_id, "198.51.100.1", now_ms=T0)
    await reports.count_failure(key_id, "198.51.100.1", now_ms=T0 + 1)
    await reports.close_ended(now_ms=T0 + WINDOW_MS)

    [claimed] = await reports.claim_closed(lease_seconds=60)
    claimed_by_another_worker = await reports.claim_closed(lease_seconds=60)
    await redis.delete(f"{claimed.name}:claim")  # the lease ran out: the first worker died
    [claimed_again] = await reports.claim_closed(lease_seconds=60)
    await reports.forget(claimed_again.name)
    after_forgetting = await reports.claim_closed(lease_seconds=60)

    assert claimed_by_another_worker == []
    assert claimed_again == claimed
    assert after_forgetting == []
    assert [key async for key in redis.scan_iter("audittrail:login:*")] == []
