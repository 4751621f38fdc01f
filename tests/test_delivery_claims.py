"""Claims and records run as single statements in autocommit (``Database.statement``): concurrent
claims still let one attempt through, and the connection goes back to the pool as it came."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from api import webhooks
from api.db import Database
from api.models import Role
from api.settings import Settings
from api.webhooks.attempts import claim_attempt, record_attempt
from api.webhooks.retry_policy import DELIVERED, AttemptOutcome
from tests.helpers import Api
from tests.receivers import SET_WEBHOOK, Receiver, webhook_input
from tests.test_delivery_attempts import owed_delivery

CONCURRENT_ATTEMPTS = 8
UNDONE_WRITE = text("UPDATE webhook_deliveries SET last_error = 'rolled back' WHERE id = :delivery_id")
DELIVERY_ROW = text("SELECT attempts, last_error FROM webhook_deliveries WHERE id = :delivery_id")


async def test_workers_claiming_one_due_delivery_at_once_send_it_once(
    api: Api, receiver: Receiver, settings: Settings
) -> None:
    admin = await api.key("acme", Role.ADMIN)
    (await api.gql(SET_WEBHOOK, {"input": webhook_input(receiver.url)}, token=admin.jwt)).ok()
    delivery_id = await owed_delivery(api, admin)
    sender = webhooks.Sender.from_settings(settings)
    retry_policy = webhooks.RetryPolicy.from_settings(settings)
    try:
        results = await asyncio.gather(
            *(
                webhooks.deliver_due(api.db, sender, retry_policy, delivery_id=delivery_id)
                for _ in range(CONCURRENT_ATTEMPTS)
            )
        )
        # Once recorded, the delivery is settled: a late wake-up finds nothing due.
        late = await webhooks.deliver_due(api.db, sender, retry_policy, delivery_id=delivery_id)
    finally:
        await sender.aclose()
    made = [result for result in results if result is not None]
    assert len(made) == 1 and made[0].attempt == 1 and made[0].outcome.status_code == 200
    assert late is None
    sent = [request for request in receiver.requests if request.header("X-Audit-Delivery-Id") == delivery_id]
    assert [request.header("X-Audit-Attempt") for request in sent] == ["1"]


async def test_a_connection_lent_for_one_claim_returns_to_the_pool_transactional(api: Api, receiver: Receiver) -> None:
    admin = await api.key("acme", Role.ADMIN)
    (await api.gql(SET_WEBHOOK, {"input": webhook_input(receiver.url)}, token=admin.jwt)).ok()
    delivery_id = await owed_delivery(api, admin)
    # One connection, used in turn: the transaction after the claim runs on the claim's connection.
    db = Database(api.settings.database_url or "", pool_size=1)
    try:
        async with db.statement() as connection:
            claimed = await claim_attempt(connection, delivery_id, lease_seconds=30)
        with pytest.raises(RuntimeError):
            async with db.transaction() as session:
                await session.execute(UNDONE_WRITE, {"delivery_id": delivery_id})
                raise RuntimeError("the unit of work fails after its write")
        # The claim committed on its own and holds its lease for every other session.
        async with db.statement() as connection:
            again = await claim_attempt(connection, delivery_id, lease_seconds=30)
    finally:
        await db.dispose()
    async with api.db.transaction() as session:
        row = (await session.execute(DELIVERY_ROW, {"delivery_id": delivery_id})).one()
    assert claimed is not None and claimed.attempt == 1 and again is None
    assert (row.attempts, row.last_error) == (1, None)  # the claim stayed, the failed transaction's write did not


SYNCHRONOUS_COMMIT = text("SHOW synchronous_commit")


async def test_only_the_workers_claim_commits_without_waiting_for_the_disk(api: Api, receiver: Receiver) -> None:
    admin = await api.key("acme", Role.ADMIN)
    (await api.gql(SET_WEBHOOK, {"input": webhook_input(receiver.url)}, token=admin.jwt)).ok()
    delivery_id = await owed_delivery(api, admin)
    settings_seen: dict[str, str] = {}
    # Inside a transaction, to read the setting the statement left for its transaction's commit.
    async with api.db.transaction() as session:
        lease = await claim_attempt(session, delivery_id, lease_seconds=30, only_if_due=False, durable=False)
        settings_seen["worker's claim"] = str(await session.scalar(SYNCHRONOUS_COMMIT))
    async with api.db.transaction() as session:
        durable = await claim_attempt(session, delivery_id, lease_seconds=30, only_if_due=False)
        settings_seen["durable claim"] = str(await session.scalar(SYNCHRONOUS_COMMIT))
    assert lease is not None and durable is not None
    async with api.db.transaction() as session:
        await record_attempt(session, durable, AttemptOutcome(status_code=200, latency_ms=1), DELIVERED)
        settings_seen["record"] = str(await session.scalar(SYNCHRONOUS_COMMIT))

    assert settings_seen == {"worker's claim": "off", "durable claim": "on", "record": "on"}


async def test_the_claims_setting_ends_with_its_statement_on_the_pooled_connection(
    api: Api, receiver: Receiver
) -> None:
    admin = await api.key("acme", Role.ADMIN)
    (await api.gql(SET_WEBHOOK, {"input": webhook_input(receiver.url)}, token=admin.jwt)).ok()
    delivery_id = await owed_delivery(api, admin)
    db = Database(api.settings.database_url or "", pool_size=1)  # the record gets the claim's connection
    try:
        async with db.statement() as connection:
            claimed = await claim_attempt(connection, delivery_id, lease_seconds=30, durable=False)
            after_claim = await connection.scalar(SYNCHRONOUS_COMMIT)
        async with db.statement() as connection:
            for_the_record = await connection.scalar(SYNCHRONOUS_COMMIT)
    finally:
        await db.dispose()

    assert claimed is not None and claimed.attempt == 1
    assert (after_claim, for_the_record) == ("on", "on")
