"""Retention: expired events and their deliveries go, recent ones stay; whole partitions only when all may go."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import asyncpg
import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from api.accounts.accounts import set_retention
from api.audit.retention import apply_retention, drop_partition
from api.cli import app
from api.db import Database, raw_url
from api.models import Role, Webhook
from api.settings import Settings
from api.webhooks import connect_queue
from tests.conftest import TEST_SECRET_KEY
from tests.helpers import Api
from tests.test_audit_support import ago, draft, seed
from workers.context import CONTEXT_KEY, WorkerContext
from workers.retention import retention_job
from workers.settings import build_worker


async def with_webhook(db: Database, account_id: str) -> None:
    """An enabled webhook, so every recorded event owes a delivery row."""
    async with db.transaction() as session:
        session.add(
            Webhook(
                account_id=account_id,
                enabled=True,
                endpoint="http://127.0.0.1:9/hook",
                secret_encrypted="unused",
                secret_sha="unused",
            )
        )


async def retain(db: Database, account_id: str, days: int) -> None:
    async with db.transaction() as session:
        await set_retention(session, account_id, days=days)


async def surviving(db: Database, table: str, column: str, ids: list[str]) -> set[str]:
    async with db.transaction() as session:
        rows = await session.execute(text(f"SELECT {column} FROM {table} WHERE {column} = ANY(:ids)"), {"ids": ids})
        return {str(row[0]) for row in rows}


async def partition_exists(db: Database, name: str) -> bool:
    async with db.transaction() as session:
        return bool((await session.execute(text("SELECT to_regclass(:n) IS NOT NULL"), {"n": name})).scalar_one())


async def test_retention_removes_expired_events_and_their_deliveries_and_keeps_recent_ones(api: Api) -> None:
    acme, globex = await api.account("acme"), await api.account("globex")
    await retain(api.db, globex, 7)
    for account_id in (acme, globex):
        await with_webhook(api.db, account_id)
    acme_old, acme_recent, acme_new = await seed(
        api.db, acme, [draft(at=ago(days=40)), draft(at=ago(days=10)), draft(at=ago(days=1))]
    )
    globex_old, globex_recent, globex_new = await seed(
        api.db, globex, [draft(at=ago(days=10)), draft(at=ago(days=6)), draft(at=ago(days=1))], "globex"
    )
    everything = [acme_old, acme_recent, acme_new, globex_old, globex_recent, globex_new]

    report = await apply_retention(api.db, batch_size=1)

    kept = {acme_recent, acme_new, globex_recent, globex_new}
    assert await surviving(api.db, "audit_events", "id", everything) == kept
    assert await surviving(api.db, "webhook_deliveries", "event_id", everything) == kept
    assert report.deleted_events == {"acme": 1, "globex": 1}
    assert report.deleted_deliveries == 2


async def test_partitions_are_dropped_only_once_older_than_every_accounts_retention(api: Api) -> None:
    acme, globex = await api.account("acme"), await api.account("globex")
    await retain(api.db, globex, 60)
    await with_webhook(api.db, globex)
    day = ago(days=45).date()
    partition = f"audit_events_p{day:%Y%m%d}"
    async with api.db.transaction() as session:
        await session.execute(text("SET LOCAL TIME ZONE 'UTC'"))
        await session.execute(text("SELECT audit_events_ensure_partitions(:day, 1)"), {"day": day})
    [acme_event] = await seed(api.db, acme, [draft(at=ago(days=45))])
    [globex_event] = await seed(api.db, globex, [draft(at=ago(days=45))], "globex")

    # globex keeps 60 days: the shared partition stays, only acme's row in it goes.
    first = await apply_retention(api.db)
    assert partition not in first.dropped_partitions and await partition_exists(api.db, partition)
    assert await surviving(api.db, "audit_events", "id", [acme_event, globex_event]) == {globex_event}

    # Now no account keeps that day: the whole partition goes, with globex's delivery.
    await retain(api.db, globex, 40)
    second = await apply_retention(api.db)
    assert partition in second.dropped_partitions and not await partition_exists(api.db, partition)
    assert await surviving(api.db, "audit_events", "id", [globex_event]) == set()
    assert await surviving(api.db, "webhook_deliveries", "event_id", [globex_event]) == set()
    assert second.deleted_deliveries == 1


async def test_retention_run_command_prints_what_it_removed(
    api: Api, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    acme = await api.account("acme")
    # 35 days back is before the first daily partition: the row sits in the default partition.
    await seed(api.db, acme, [draft(at=ago(days=35)), draft(at=ago(days=29))])
    for name, value in {
        "DATABASE_URL": settings.database_url or "",
        "REDIS_URL": settings.redis_url or "",
        "AUDITTRAIL_SECRET_KEY": TEST_SECRET_KEY,
        "AUDITTRAIL_ALLOW_PRIVATE_ENDPOINTS": "true",
    }.items():
        monkeypatch.setenv(name, value)

    result = await asyncio.to_thread(CliRunner().invoke, app, ["retention", "run"])

    assert result.exit_code == 0, result.output
    assert "deleted 1 events of account acme" in result.output
    assert "deleted 0 webhook deliveries" in result.output


async def run_the_retention_job(settings: Settings) -> None:
    """The worker's hourly job, run once with the worker's own context."""
    queue = await connect_queue(settings.redis_url or "")
    context = WorkerContext.open(settings, queue)
    try:
        await retention_job({CONTEXT_KEY: context})
    finally:
        await context.close()
        await queue.aclose()


async def test_the_worker_runs_retention_hourly(api: Api, settings: Settings) -> None:
    acme = await api.account("acme")
    await retain(api.db, acme, 7)
    old, recent = await seed(api.db, acme, [draft(at=ago(days=8)), draft(at=ago(days=6))])
    worker = build_worker(settings, handle_signals=False)
    [cron_job] = [job for job in worker.cron_jobs if job.coroutine is retention_job]

    await run_the_retention_job(settings)

    assert cron_job.minute == 23 and cron_job.unique
    assert await surviving(api.db, "audit_events", "id", [old, recent]) == {recent}


async def test_the_hourly_job_forgets_logged_out_tokens_once_they_have_expired(api: Api, settings: Settings) -> None:
    key = await api.key("acme", Role.READER)
    (await api.gql("mutation { logout { id } }", token=key.jwt)).ok()
    other = await api.login(key.id, key.secret)
    (await api.gql("mutation { logout { id } }", token=other)).ok()
    async with api.db.transaction() as session:
        await session.execute(
            text(
                "UPDATE revoked_tokens SET expires_at = now() - interval '1 minute'"
                " WHERE jti = (SELECT min(jti) FROM revoked_tokens)"
            )
        )

    await run_the_retention_job(settings)

    async with api.db.transaction() as session:
        left = (await session.execute(text("SELECT count(*) FROM revoked_tokens"))).scalar_one()
    assert left == 1  # the one still within its lifetime stays refused
    assert (await api.gql("{ viewer { id } }", token=other)).codes == ["UNAUTHENTICATED"]


async def claimed_external_ids(db: Database, account_id: str) -> set[str]:
    async with db.transaction() as session:
        rows = await session.execute(
            text("SELECT external_id FROM audit_event_external_ids WHERE account_id = :a"), {"a": account_id}
        )
        return {str(row[0]) for row in rows}


async def test_retention_deletes_an_expired_events_external_id_with_it(api: Api) -> None:
    acme, globex = await api.account("acme"), await api.account("globex")
    await retain(api.db, acme, 7)
    await retain(api.db, globex, 60)  # keeps the partitions: acme's rows go one by one
    await seed(
        api.db,
        acme,
        [replace(draft(at=ago(days=10)), external_id="old"), replace(draft(at=ago(days=1)), external_id="recent")],
    )
    await seed(api.db, globex, [replace(draft(at=ago(days=10)), external_id="old")], "globex")

    await apply_retention(api.db, batch_size=1)

    assert await claimed_external_ids(api.db, acme) == {"recent"}
    assert await claimed_external_ids(api.db, globex) == {"old"}


async def test_a_dropped_partitions_external_ids_go_before_it(api: Api) -> None:
    acme = await api.account("acme")
    await retain(api.db, acme, 7)
    day = ago(days=10).date()
    async with api.db.transaction() as session:
        await session.execute(text("SET LOCAL TIME ZONE 'UTC'"))
        await session.execute(text("SELECT audit_events_ensure_partitions(:day, 1)"), {"day": day})
    [old] = await seed(api.db, acme, [replace(draft(at=ago(days=10)), external_id="in-dropped-partition")])

    report = await apply_retention(api.db)

    assert f"audit_events_p{day:%Y%m%d}" in report.dropped_partitions
    assert await surviving(api.db, "audit_events", "id", [old]) == set()
    assert await claimed_external_ids(api.db, acme) == set()


async def test_dropping_a_partition_waits_for_a_read_instead_of_deadlocking_with_it(
    api: Api, settings: Settings
) -> None:
    """A read locks the parent table, then the partitions its plan names (the read pool's generic plans
    name them all).  A DROP that took the partition first and then waited for the parent would make a
    cycle with it; PostgreSQL's DROP of a partition locks the parent first, so the DROP waits instead."""
    day = ago(days=45).date()
    partition = f"audit_events_p{day:%Y%m%d}"
    async with api.db.transaction() as session:
        await session.execute(text("SET LOCAL TIME ZONE 'UTC'"))
        await session.execute(text("SELECT audit_events_ensure_partitions(:day, 1)"), {"day": day})
    assert settings.database_url is not None
    reader = await asyncpg.connect(raw_url(settings.database_url))
    try:
        read = reader.transaction()
        await read.start()
        await reader.execute("LOCK TABLE audit_events IN ACCESS SHARE MODE")  # a read's first lock
        dropping = asyncio.create_task(drop_partition(api.db, partition))
        async with asyncio.timeout(30):
            while not await reader.fetchval("SELECT count(*) FROM pg_locks WHERE NOT granted"):
                await asyncio.sleep(0.05)  # until the DROP waits for a lock
        # The read goes on to the partition, as its plan does: no deadlock, the DROP still waits.
        assert await reader.fetchval(f'SELECT count(*) FROM "{partition}"') == 0
        await read.commit()
    finally:
        await reader.close()
    assert await dropping is True
    assert not await partition_exists(api.db, partition)
