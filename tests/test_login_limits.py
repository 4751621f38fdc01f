"""Login floods against the real server: failed logins are limited per address and per key id, counted
into one summary event per window, and an unknown key id is refused exactly like a wrong secret."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
from arq.connections import RedisSettings, create_pool
from redis.asyncio import Redis
from sqlalchemy import text

from api.accounts.login_limits import key_digest
from api.app import create_app
from api.audit.record import now_ms
from api.db import Database
from api.models import Role, new_id
from api.settings import Settings
from tests.helpers import Api, GraphQLResult
from tests.receivers import SET_WEBHOOK, Receiver, running_worker, unused_port, webhook_input
from tests.support.live_server import serving
from tests.support.polling import poll
from tests.support.scrape import scrape
from workers.context import WorkerContext
from workers.failed_logins import record_ended_windows

LOGIN = "mutation($id: ID!, $secret: String!) { apiKeyUser(id: $id, secret: $secret) { jwt } }"
INVALID = "unauthorized: invalid API key id or secret"
FLOODER = "198.51.100.7"
OWNER = "203.0.113.5"
WINDOW_SECONDS = 600


def limited(settings: Settings, **limits: object) -> Settings:
    """The test settings behind a trusted proxy on loopback (``X-Forwarded-For`` names the client), with
    ``limits`` (long windows by default, so that only ``record_ended_windows`` closes them)."""
    defaults: dict[str, object] = {
        "trusted_proxies": ["127.0.0.1/32"],
        "login_failures_per_address": 10,
        "login_failures_per_key": 5,
        "login_address_window_seconds": WINDOW_SECONDS,
        "login_key_window_seconds": WINDOW_SECONDS,
    }
    return settings.model_copy(update={**defaults, **limits})


Login = Callable[[str, str, str], Awaitable[GraphQLResult]]


@asynccontextmanager
async def live_logins(settings: Settings) -> AsyncIterator[Login]:
    """``login(key_id, secret, client_address)`` against the app served by uvicorn."""
    async with serving(create_app(settings)) as url, httpx.AsyncClient(base_url=url, timeout=30) as http:

        async def login(key_id: str, secret: str, address: str) -> GraphQLResult:
            response = await http.post(
                "/graphql",
                json={"query": LOGIN, "variables": {"id": key_id, "secret": secret}},
                headers={"X-Forwarded-For": address},
            )
            assert response.status_code == 200
            return GraphQLResult(response)

        yield login


async def scalar(db: Database, sql: str, **params: object) -> Any:
    async with db.transaction() as session:
        return (await session.execute(text(sql), params)).scalar_one()


async def failed_login_events(db: Database, key_id: str) -> list[dict[str, Any]]:
    async with db.transaction() as session:
        rows = await session.execute(
            text(
                "SELECT body, remote_ip FROM audit_events WHERE action = 'api_key.login_failed'"
                " AND affected_resource_id = :key_id ORDER BY created_at, id"
            ),
            {"key_id": key_id},
        )
        return [{**orjson.loads(row.body), "stored_remote_ip": row.remote_ip} for row in rows]


def is_limited(result: GraphQLResult) -> bool:
    return "retryAfterSeconds" in result.errors[0].get("extensions", {})


@asynccontextmanager
async def worker_context(settings: Settings) -> AsyncIterator[WorkerContext]:
    """The context the worker's jobs get, for calling its cron's function at a chosen time."""
    queue = await create_pool(RedisSettings.from_dsn(settings.redis_url or ""))
    context = WorkerContext.open(settings, queue)
    try:
        yield context
    finally:
        await context.close()
        await queue.aclose()


async def test_a_flood_of_wrong_secrets_is_limited_and_recorded_as_one_event_and_one_summary(
    api: Api, settings: Settings, receiver: Receiver
) -> None:
    flood_settings = limited(settings)
    admin = await api.key("acme", Role.ADMIN)
    (await api.gql(SET_WEBHOOK, {"input": webhook_input(receiver.url)}, token=admin.jwt)).ok()
    target = await api.key("acme", Role.READER, login=False)
    before = await scrape(api.client, "/metrics")

    async with running_worker(flood_settings), live_logins(flood_settings) as login:
        answers = [await login(target.id, f"guess-{n}", FLOODER) for n in range(200)]
        await poll(
            lambda: scalar(api.db, "SELECT count(*) = 1 FROM audit_events WHERE action = 'api_key.login_failed'"),
            what="the first failure's event",
        )
        async with worker_context(flood_settings) as context:
            summaries = await record_ended_windows(context, now_ms=now_ms() + WINDOW_SECONDS * 1000 + 1)
        await receiver.wait_for(3)  # the webhook's own set event, the first failure, the summary
        owner_login = await login(target.id, target.secret, OWNER)
        flooder_login = await login(target.id, target.secret, FLOODER)

    assert all(answer.codes == ["UNAUTHENTICATED"] and answer.data == {"apiKeyUser": None} for answer in answers)
    checked, refused = answers[:5], answers[5:]
    assert [answer.errors[0]["message"] for answer in checked] == [INVALID] * 5
    assert not any(is_limited(answer) for answer in checked)
    assert all(is_limited(answer) for answer in refused)
    retry_after = refused[0].errors[0]["extensions"]["retryAfterSeconds"]
    assert 0 < retry_after <= WINDOW_SECONDS
    assert refused[0].errors[0]["message"] == f"unauthorized: too many failed logins; retry in {retry_after} seconds"

    first, summary = await failed_login_events(api.db, target.id)
    assert first["actor"] == f"api::{target.id}" and first["remoteIP"] == FLOODER
    assert first["context"]["mutation"] == "apiKeyUser" and first["context"]["requestId"]
    assert first["data"] == {"args": {"ID": target.id}}
    assert summary["data"]["failedAttempts"] == 5
    assert summary["data"]["limitedAttempts"] == 195
    assert summary["data"]["addresses"] == [FLOODER]
    window = summary["data"]["window"]
    assert window["to"] - window["from"] == WINDOW_SECONDS * 1000 and summary["timestamp"] == window["to"]
    assert summaries == 1
    deliveries = await scalar(api.db, "SELECT count(*) FROM webhook_deliveries WHERE action = 'api_key.login_failed'")
    assert deliveries == 2
    assert receiver.actions().count("api_key.login_failed") == 2
    # The worker's events count as the service's own (a digest cron run may have added one of its own).
    recorded_by_worker = await scalar(
        api.db, "SELECT count(*) FROM audit_events WHERE action IN ('api_key.login_failed', 'audit_trail.digest')"
    )
    after = await scrape(api.client, "/metrics")
    system_events = "audittrail_events_recorded_total"
    assert after.value(system_events, source="system") - before.value(system_events, source="system") == (
        recorded_by_worker
    )
    # The key's owner, at an address that never failed, is not locked out; the flooding address is.
    assert owner_login.ok()["apiKeyUser"]["jwt"]
    assert is_limited(flooder_login)


async def test_the_worker_records_the_summary_once_the_window_has_ended(api: Api, settings: Settings) -> None:
    short_window = limited(settings, login_key_window_seconds=5)
    target = await api.key("acme", Role.READER, login=False)

    async with running_worker(short_window), live_logins(short_window) as login:
        for guess in ("first", "second"):
            assert (await login(target.id, guess, FLOODER)).errors[0]["message"] == INVALID

        async def summarised() -> bool:
            return len(await failed_login_events(api.db, target.id)) == 2

        await poll(summarised, timeout=30, what="the worker's cron to record the window's summary")

    first, summary = await failed_login_events(api.db, target.id)
    assert first["data"] == {"args": {"ID": target.id}}
    assert summary["data"]["failedAttempts"] == 2 and summary["data"]["limitedAttempts"] == 0


async def test_a_limited_attempt_is_answered_without_the_database(api: Api, settings: Settings) -> None:
    one_guess = limited(settings, login_failures_per_address=1)
    without_database = one_guess.model_copy(
        update={"database_url": f"postgresql://postgres@127.0.0.1:{unused_port()}/postgres"}
    )
    target = await api.key("acme", Role.READER, login=False)

    async with live_logins(one_guess) as login:
        guessed = await login(target.id, "wrong", FLOODER)
    async with live_logins(without_database) as login:
        limited_attempt = await login(target.id, "wrong again", FLOODER)
        checked_attempt = await login(target.id, target.secret, OWNER)

    assert guessed.errors[0]["message"] == INVALID
    assert is_limited(limited_attempt)
    assert checked_attempt.codes == ["SERVICE_UNAVAILABLE"]  # what any attempt reaching the database gets


async def test_the_address_limit_holds_across_key_ids(api: Api, settings: Settings) -> None:
    address_settings = limited(settings, login_failures_per_address=3, login_failures_per_key=100)
    first = await api.key("acme", Role.READER, login=False)
    second = await api.key("acme", Role.READER, login=False)
    third = await api.key("acme", Role.READER, login=False)

    async with live_logins(address_settings) as login:
        failures = [
            await login(first.id, "wrong", FLOODER),
            await login(new_id(), "wrong", FLOODER),
            await login(second.id, "wrong", FLOODER),
        ]
        right_secret_from_flooder = await login(third.id, third.secret, FLOODER)
        right_secret_elsewhere = await login(third.id, third.secret, OWNER)

    assert [failure.errors[0]["message"] for failure in failures] == [INVALID] * 3
    assert is_limited(right_secret_from_flooder)
    assert right_secret_elsewhere.ok()["apiKeyUser"]["jwt"]


async def test_concurrent_guesses_do_not_slip_past_the_limit(api: Api, settings: Settings) -> None:
    # A loaded test machine answers slowly: the limits must not give up on Redis (fail open) meanwhile.
    concurrent_settings = limited(
        settings, login_failures_per_address=4, login_failures_per_key=100, login_limiter_timeout_seconds=30.0
    )
    target = await api.key("acme", Role.READER, login=False)

    async with live_logins(concurrent_settings) as login:
        answers = await asyncio.gather(*(login(target.id, f"guess-{n}", FLOODER) for n in range(20)))

    # Each attempt is admitted and reserved in one Redis script: no more than the limit get checked.
    assert sum(not is_limited(answer) for answer in answers) == 4


SIZE_COMMANDS = {b"zset": "ZCARD", b"set": "SCARD", b"hash": "HLEN", b"string": "STRLEN", b"list": "LLEN"}


async def redis_sizes(redis: Redis) -> dict[bytes, int]:
    """Every Redis key with its size (members, fields or bytes)."""
    sizes: dict[bytes, int] = {}
    async for key in redis.scan_iter():
        kind = await redis.type(key)
        size = await redis.execute_command(SIZE_COMMANDS[kind], key)  # type: ignore[no-untyped-call]  # untyped in redis-py
        sizes[key] = int(size)
    return sizes


def redis_writes(before: dict[bytes, int], after: dict[bytes, int], key_id: str, address: str) -> list[str]:
    """The keys an attempt created or grew, with its key id's digest, its address and job ids written
    generically, so that two attempts' writes compare."""
    grown = (key.decode() for key, size in after.items() if before.get(key) != size)
    names = (name.replace(key_digest(key_id), "<key>").replace(address, "<address>") for name in grown)
    return sorted(re.sub(r"arq:job:\w+", "arq:job:<id>", name) for name in names)


async def test_an_unknown_key_id_and_a_wrong_secret_give_the_same_answer_and_the_same_writes(
    api: Api, settings: Settings, receiver: Receiver
) -> None:
    same_settings = limited(settings)
    admin = await api.key("acme", Role.ADMIN)
    (await api.gql(SET_WEBHOOK, {"input": webhook_input(receiver.url)}, token=admin.jwt)).ok()
    target = await api.key("acme", Role.READER, login=False)
    unknown_id = new_id()
    redis = Redis.from_url(settings.redis_url or "")
    counts = "SELECT (SELECT count(*) FROM audit_events) + (SELECT count(*) FROM webhook_deliveries) * 1000"

    async def attempt(key_id: str, address: str) -> tuple[dict[str, Any], int, list[str]]:
        sizes_before, rows_before = await redis_sizes(redis), await scalar(api.db, counts)
        result = await login(key_id, "not-the-secret", address)
        written = redis_writes(sizes_before, await redis_sizes(redis), key_id, address)
        return result.json, await scalar(api.db, counts) - rows_before, written

    async with live_logins(same_settings) as login:
        wrong_secret = await attempt(target.id, FLOODER)
        unknown_key = await attempt(unknown_id, OWNER)
        queued = [job_id.decode() for job_id in await redis.zrange("arq:queue", 0, -1)]
    try:
        assert wrong_secret == unknown_key
        assert wrong_secret[0]["errors"][0]["message"] == INVALID and wrong_secret[1] == 0
        assert len(queued) == 2  # one record job each: the worker tells them apart, not the request
        async with running_worker(same_settings):
            await poll(lambda: jobs_done(redis, queued), what="both record jobs run")
            await receiver.wait_for(2)  # the webhook's set event, then the wrong secret's failure
        assert len(await failed_login_events(api.db, target.id)) == 1
        assert len(await failed_login_events(api.db, unknown_id)) == 0
        assert receiver.actions() == ["audit_trail_webhook.set", "api_key.login_failed"]
    finally:
        await redis.aclose()


async def jobs_done(redis: Redis, job_ids: list[str]) -> bool:
    """The jobs have run: arq drops a job's key once done (the worker keeps no results)."""
    return not await redis.exists(*(f"arq:job:{job_id}" for job_id in job_ids))


async def test_an_oversized_key_id_is_refused_and_stored_nowhere(api: Api, settings: Settings) -> None:
    # As long as a request without a token may be (64 KiB): a longer one is refused before it is read.
    hostile_id = "A" * (settings.max_anonymous_request_bytes - 200)
    redis = Redis.from_url(settings.redis_url or "")
    try:
        async with live_logins(limited(settings)) as login:
            refused = await login(hostile_id, "x", FLOODER)
        stored = [key async for key in redis.scan_iter() if len(key) > 200]
    finally:
        await redis.aclose()
    assert refused.errors[0]["message"] == INVALID
    assert stored == []
    assert await scalar(api.db, "SELECT count(*) FROM audit_events WHERE action = 'api_key.login_failed'") == 0


async def test_logins_work_and_failures_are_recorded_when_redis_is_down(api: Api, settings: Settings) -> None:
    without_redis = limited(settings, redis_url=f"redis://127.0.0.1:{unused_port()}", login_failures_per_address=1)
    key = await api.key("acme", Role.READER, login=False)

    async with live_logins(without_redis) as login:
        wrong = [await login(key.id, "wrong", FLOODER) for _ in range(3)]
        right = await login(key.id, key.secret, FLOODER)

    # No limits without Redis (fail open), every failure recorded by the request itself.
    assert [answer.errors[0]["message"] for answer in wrong] == [INVALID] * 3
    assert right.ok()["apiKeyUser"]["jwt"]
    assert len(await failed_login_events(api.db, key.id)) == 3
