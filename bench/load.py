"""Bulk test data for the benchmarks, generated inside PostgreSQL (INSERT ... SELECT generate_series).

Events look like a real trail: four accounts of different sizes, ~40 actions with a skewed
(Zipf-like) frequency, a few thousand actors of which a few are very active, resources named after
the action's resource type, and ``data.args`` naming a service and an environment.  Rows are
generated in time order, as they arrive in production, so each day's partition is laid out by time.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg
from arq.connections import RedisSettings, create_pool
from arq.constants import default_queue_name, job_key_prefix
from arq.jobs import serialize_job
from rich.progress import Progress

from api.accounts.accounts import create_account
from api.accounts.keys import create_key
from api.db import Database, raw_url
from api.models import Role
from api.webhooks.crypto import encrypt_text
from api.webhooks.queue import DELIVER_JOB, delivery_job_id
from bench.harness import BENCH_SECRET_KEY

ACCOUNT_NAMES = ("acme", "globex", "initech", "umbrella")
# Ten buckets of event numbers: acme 40 %, globex 30 %, initech 20 %, umbrella 10 %.
ACCOUNT_BUCKETS = (0, 0, 0, 0, 1, 1, 1, 2, 2, 3)
ACTIONS = (
    "run.trigger", "run.state_changed", "stack.update", "run.confirm", "stack.create", "policy.attach",
    "context.update", "module.publish", "stack.lock", "stack.unlock", "run.discard", "api_key.login",
    "policy.update", "context.attach", "stack.delete", "module.create", "space.create", "policy.create",
    "policy.detach", "context.detach", "worker_pool.create", "worker_pool.update", "api_key.create",
    "api_key.delete", "audit_trail_webhook.set", "stack.set_environment", "stack.add_hook", "module.delete",
    "space.update", "space.delete", "user.invite", "user.remove", "vcs.integration_update", "blueprint.create",
    "blueprint.publish", "drift_detection.enable", "drift_detection.disable", "notification.create",
    "login.saml", "login.oidc",
)  # fmt: skip
SERVICES = (
    "payments", "checkout", "search", "billing", "identity", "catalog", "inventory", "shipping", "notifications",
    "analytics", "gateway", "ledger", "reporting", "scheduler", "media",
)  # fmt: skip
WEBHOOK_SECRET = "bench-webhook-secret"
EVENT_CHUNK = 50_000

_INSERT_EVENTS = """
INSERT INTO audit_events (
    id, created_at, account_id, action, actor, actor_source, event_type, affected_resource_type,
    affected_resource_id, related_resource_type, related_resource_id, context, data, remote_ip, body)
SELECT
    lpad(upper(to_hex((extract(epoch FROM created_at) * 1000)::bigint)), 12, '0') || lpad(upper(to_hex(n)), 14, '0'),
    created_at, account_id, action, actor, split_part(actor, '::', 1),
    CASE split_part(action, '.', 2) WHEN 'create' THEN 'CREATE' WHEN 'delete' THEN 'DELETE' ELSE 'UPDATE' END,
    upper(split_part(action, '.', 1)), split_part(action, '.', 1) || '-' || resource_number,
    CASE WHEN has_related THEN 'SPACE' END, CASE WHEN has_related THEN 'space-' || (n % 50) END,
    context, data, remote_ip,
    json_build_object('account', account_name, 'action', action, 'actor', actor, 'context', context,
                      'data', data, 'remoteIP', remote_ip,
                      'timestamp', (extract(epoch FROM created_at) * 1000)::bigint)::text
FROM (
    SELECT n, created_at, account_id, account_name, action, actor, resource_number, has_related, remote_ip,
           jsonb_build_object('mutation', 'bench', 'requestId', md5(n::text)) AS context,
           jsonb_build_object('args', jsonb_build_object(
               'Name', service || '-' || environment,
               'Description', 'change to ' || service || ' in ' || environment || ' by ' || actor,
               'Labels', jsonb_build_array(environment, 'team-' || (n % 23)))) AS data
    FROM (
        SELECT n,
               $1::timestamptz
                   + ($2::timestamptz - $1::timestamptz) * ((n - $11::bigint + random()) / $5::float8) AS created_at,
               ($6::text[])[1 + ($8::int[])[1 + n % 10]] AS account_id,
               ($7::text[])[1 + ($8::int[])[1 + n % 10]] AS account_name,
               ($9::text[])[1 + floor(array_length($9::text[], 1) * power(random(), 2.5))::int] AS action,
               CASE WHEN random() < 0.1 THEN 'api::01HBENCHKEY' || lpad((n % 20)::text, 15, '0')
                    ELSE 'github::user' || floor(3000 * power(random(), 2))::int END AS actor,
               floor(5000 * power(random(), 2))::int AS resource_number,
               random() < 0.3 AS has_related,
               '10.' || (n % 7) || '.' || (n % 251) || '.' || (n % 13) AS remote_ip,
               ($10::text[])[1 + floor(array_length($10::text[], 1) * power(random(), 1.5))::int] AS service,
               (ARRAY['prod', 'staging', 'dev'])[1 + floor(3 * random())::int] AS environment
        FROM generate_series($3::bigint, $4::bigint - 1) AS n
    ) AS drawn
) AS shaped
"""

_NON_PRIMARY_INDEXES = """
SELECT i.relname, pg_get_indexdef(i.oid)
FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
WHERE x.indrelid = 'audit_events'::regclass AND NOT x.indisprimary
"""


@dataclass(frozen=True)
class BenchAccount:
    account_id: str
    name: str
    key_id: str
    key_secret: str


async def create_accounts(database_url: str) -> list[BenchAccount]:
    """The four accounts, each with an ADMIN key (through our own functions, as the CLI does)."""
    db = Database(database_url, pool_size=1)
    created = []
    async with db.transaction() as session:
        for name in ACCOUNT_NAMES:
            account = await create_account(session, name, retention_days=30)
            key = await create_key(session, account.id, f"bench {name}", Role.ADMIN)
            created.append(BenchAccount(account.id, name, key.key.id, key.secret))
    await db.dispose()
    return created


async def without_search_indexes(connection: asyncpg.Connection) -> list[str]:
    """Drop every index of audit_events but the primary key; returns their definitions to rebuild."""
    definitions = []
    for name, definition in await connection.fetch(_NON_PRIMARY_INDEXES):
        definitions.append(definition.replace(" ON ONLY ", " ON "))
        await connection.execute(f'DROP INDEX "{name}"')
    return definitions


async def rebuild_indexes(connection: asyncpg.Connection, definitions: Sequence[str], progress: Progress) -> None:
    """Recreate the dropped indexes (on every partition), then VACUUM ANALYZE as autovacuum would."""
    task = progress.add_task("building indexes", total=len(definitions) + 1)
    await connection.execute("SET maintenance_work_mem = '1GB'")
    for definition in definitions:
        await connection.execute(definition, timeout=3600)
        progress.advance(task)
    await connection.execute("VACUUM (ANALYZE) audit_events", timeout=3600)
    progress.advance(task)


@dataclass(frozen=True)
class Span:
    """``total`` events spread evenly over ``[start, end)``."""

    start: datetime
    end: datetime
    total: int


async def generate_events(
    database_url: str,
    accounts: Sequence[BenchAccount],
    spans: Sequence[Span],
    *,
    label: str = "events",
    only_account: BenchAccount | None = None,
) -> None:
    """The events of every span, in time order; search indexes are dropped before and rebuilt after.

    Events are numbered across all spans; the numbers make the ids unique.
    """
    chosen = [only_account] * len(ACCOUNT_BUCKETS) if only_account else list(accounts)
    connection = await asyncpg.connect(raw_url(database_url))
    try:
        with Progress(transient=True) as progress:
            task = progress.add_task(f"generating {label}", total=sum(span.total for span in spans))
            definitions = await without_search_indexes(connection)
            first_number = int(await connection.fetchval("SELECT count(*) FROM audit_events"))
            for span in spans:
                last = first_number + span.total
                for low in range(first_number, last, EVENT_CHUNK):
                    high = min(last, low + EVENT_CHUNK)
                    await connection.execute(
                        _INSERT_EVENTS,
                        span.start, span.end, low, high, span.total,
                        [a.account_id for a in chosen], [a.name for a in chosen], list(ACCOUNT_BUCKETS),
                        list(ACTIONS), list(SERVICES), first_number,
                        timeout=3600,
                    )  # fmt: skip
                    progress.advance(task, high - low)
                first_number = last
            await rebuild_indexes(connection, definitions, progress)
    finally:
        await connection.close()


async def create_webhook(database_url: str, account: BenchAccount, endpoint: str) -> str:
    """An enabled webhook row for ``account`` (secret encrypted with the bench service key); returns its id."""
    import hashlib

    from api.models import new_id

    webhook_id = new_id()
    connection = await asyncpg.connect(raw_url(database_url))
    try:
        await connection.execute(
            """
            INSERT INTO webhooks (id, account_id, enabled, endpoint, secret_encrypted, secret_sha)
            VALUES ($1, $2, true, $3, $4, $5)
            """,
            webhook_id, account.account_id, endpoint, encrypt_text(BENCH_SECRET_KEY, WEBHOOK_SECRET),
            hashlib.sha256(WEBHOOK_SECRET.encode()).hexdigest(),
        )  # fmt: skip
    finally:
        await connection.close()
    return webhook_id


async def generate_deliveries(
    database_url: str,
    account: BenchAccount,
    webhook_id: str,
    *,
    status: str = "PENDING",
    before: datetime | None = None,
) -> list[str]:
    """A delivery per event of ``account`` (created before ``before`` if given), due now; returns their ids.

    Delivery ids are the event ids with a ``D`` in front of the number part, so they stay unique.
    """
    connection = await asyncpg.connect(raw_url(database_url))
    try:
        rows = await connection.fetch(
            """
            INSERT INTO webhook_deliveries (id, account_id, webhook_id, event_id, event_created_at, action, status,
                                            next_attempt_at)
            SELECT 'D' || substr(id, 2), account_id, $2, id, created_at, action, $3,
                   CASE WHEN $3 = 'PENDING' THEN now() END
            FROM audit_events
            WHERE account_id = $1 AND ($4::timestamptz IS NULL OR created_at < $4)
            ORDER BY created_at
            RETURNING id
            """,
            account.account_id, webhook_id, status, before,
            timeout=3600,
        )  # fmt: skip
        await connection.execute("VACUUM (ANALYZE) webhook_deliveries", timeout=3600)
    finally:
        await connection.close()
    return [str(row["id"]) for row in rows]


async def enqueue_pipelined(redis_url: str, delivery_ids: Sequence[str], *, label: str = "enqueueing") -> None:
    """What ``enqueue_deliveries`` leaves in Redis for each id, written in pipelines of 2,000 (arq's format)."""
    queue = await create_pool(RedisSettings.from_dsn(redis_url))
    enqueued_ms = int(time.time() * 1000)
    expires_ms = int(timedelta(days=1).total_seconds() * 1000)
    try:
        with Progress(transient=True) as progress:
            task = progress.add_task(label, total=len(delivery_ids))
            for low in range(0, len(delivery_ids), 2000):
                chunk = delivery_ids[low : low + 2000]
                pipe = queue.pipeline(transaction=False)
                for delivery_id in chunk:
                    job = serialize_job(DELIVER_JOB, (delivery_id,), {}, None, enqueued_ms)
                    pipe.psetex(job_key_prefix + delivery_job_id(delivery_id), expires_ms, job)
                pipe.zadd(default_queue_name, {delivery_job_id(d): enqueued_ms for d in chunk})
                await pipe.execute()
                progress.advance(task, len(chunk))
    finally:
        await queue.aclose()


def worker_is_up(redis_url: str, timeout: float = 60) -> None:
    """Wait for the arq worker's health-check key (written when it starts polling)."""
    import redis

    client = redis.Redis.from_url(redis_url)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if client.exists(default_queue_name + ":health-check"):
                return
            time.sleep(0.1)
    finally:
        client.close()
    raise RuntimeError(f"the worker did not start polling within {timeout:g} s")
