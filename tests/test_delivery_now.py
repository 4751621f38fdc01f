"""Attempts made at once (test, redeliver) work like the worker's: claim, send outside any
transaction, record; a delivery a worker holds at that moment is a conflict."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from api.db import Database
from api.errors import Conflict, NotFound
from api.models import DeliveryStatus, Role
from api.settings import Settings
from api.webhooks import RetryPolicy, Sender, deliver_due, deliver_now, redeliver
from tests.helpers import Api, Key
from tests.receivers import SET_WEBHOOK, Receiver, Reply, running_receiver, webhook_input
from tests.test_delivery_attempts import owed_delivery as owed_event_delivery


@pytest.fixture
async def sender(settings: Settings) -> AsyncIterator[Sender]:
    started = Sender.from_settings(settings)
    yield started
    await started.aclose()


@pytest.fixture
def retry_policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy.from_settings(settings)


async def owed_delivery(api: Api, key: Key, receiver: Receiver) -> str:
    """A webhook on ``receiver`` and one recorded event it is owed (no worker woken)."""
    (await api.gql(SET_WEBHOOK, {"input": webhook_input(receiver.url)}, token=key.jwt)).ok()
    return await owed_event_delivery(api, key)


async def status_and_attempts(db: Database, delivery_id: str) -> tuple[str, int]:
    async with db.transaction() as session:
        row = (
            await session.execute(
                text("SELECT status, attempts FROM webhook_deliveries WHERE id = :id"), {"id": delivery_id}
            )
        ).one()
    return str(row.status), int(row.attempts)


async def test_deliver_now_holds_no_row_lock_while_the_endpoint_answers(
    api: Api, sender: Sender, retry_policy: RetryPolicy
) -> None:
    admin = await api.key("acme", Role.ADMIN)
    async with running_receiver(script=[Reply(), Reply(delay_seconds=1.0)]) as receiver:
        delivery_id = await owed_delivery(api, admin, receiver)
        sending = asyncio.create_task(deliver_now(api.db, sender, retry_policy, delivery_id=delivery_id))
        await receiver.wait_for(2)

        async with api.db.transaction() as session:  # NOWAIT: fails at once if anyone holds the row
            claimed = await session.execute(
                text("SELECT status, attempts FROM webhook_deliveries WHERE id = :id FOR UPDATE NOWAIT"),
                {"id": delivery_id},
            )
            assert tuple(claimed.one()) == ("PENDING", 1)
        result = await sending

    assert result.next_step is not None and result.next_step.status == DeliveryStatus.DELIVERED
    assert result.outcome.status_code == 200 and result.attempt == 1
    assert await status_and_attempts(api.db, delivery_id) == ("DELIVERED", 1)


async def test_deliver_now_while_a_worker_holds_the_delivery_is_a_conflict(
    api: Api, receiver: Receiver, sender: Sender, retry_policy: RetryPolicy
) -> None:
    admin = await api.key("acme", Role.ADMIN)
    delivery_id = await owed_delivery(api, admin, receiver)

    async with api.db.transaction() as worker_session:  # what a worker's claim holds for a moment
        await worker_session.execute(
            text("SELECT id FROM webhook_deliveries WHERE id = :id FOR UPDATE"), {"id": delivery_id}
        )
        with pytest.raises(Conflict, match="being sent by a worker"):
            await deliver_now(api.db, sender, retry_policy, delivery_id=delivery_id)

    assert receiver.actions() == ["audit_trail_webhook.set"]
    assert await status_and_attempts(api.db, delivery_id) == ("PENDING", 0)


async def test_redeliver_sends_the_accounts_delivery_again_and_finds_no_other_accounts(
    api: Api, receiver: Receiver, sender: Sender, retry_policy: RetryPolicy
) -> None:
    acme = await api.key("acme", Role.ADMIN)
    globex = await api.key("globex", Role.ADMIN)
    delivery_id = await owed_delivery(api, acme, receiver)
    await deliver_now(api.db, sender, retry_policy, delivery_id=delivery_id)

    with pytest.raises(NotFound):
        await redeliver(api.db, sender, retry_policy, account_id=globex.account_id, delivery_id=delivery_id)
    again = await redeliver(api.db, sender, retry_policy, account_id=acme.account_id, delivery_id=delivery_id)

    assert again.attempt == 2 and again.outcome.status_code == 200
    first, resent = receiver.requests[-2:]
    assert resent.body == first.body and resent.header("X-Audit-Attempt") == "2"
    assert await status_and_attempts(api.db, delivery_id) == ("DELIVERED", 2)


async def test_the_worker_path_sends_only_what_is_due(
    api: Api, receiver: Receiver, sender: Sender, retry_policy: RetryPolicy
) -> None:
    admin = await api.key("acme", Role.ADMIN)
    delivery_id = await owed_delivery(api, admin, receiver)

    sent = await deliver_due(api.db, sender, retry_policy, delivery_id=delivery_id)
    again = await deliver_due(api.db, sender, retry_policy, delivery_id=delivery_id)

    assert sent is not None and sent.next_step is not None and sent.next_step.status == DeliveryStatus.DELIVERED
    assert again is None
    assert receiver.actions() == ["audit_trail_webhook.set", "stack.updated"]
