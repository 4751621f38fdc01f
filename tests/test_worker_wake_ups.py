"""An enqueued delivery wakes the worker at once; its poll is only the backstop (workers/wake_ups.py)."""

from __future__ import annotations

from redis.asyncio import Redis
from sqlalchemy import text

from api.models import Role
from api.settings import Settings
from api.webhooks.queue import WAKE_CHANNEL
from tests.helpers import Api
from tests.receivers import SET_WEBHOOK, Receiver, running_worker, webhook_input
from tests.support.polling import poll

CREATE_KEY = 'mutation { apiKeyCreate(input: {name: "ci", role: SERVICE}) { id } }'
AN_HOUR = 3600.0


def without_polling(settings: Settings) -> Settings:
    """A worker whose next poll (and so its next cron, sweep included) is an hour away."""
    return settings.model_copy(update={"worker_poll_delay_seconds": AN_HOUR, "sweep_interval_seconds": 60})


async def is_listening_for_wake_ups(settings: Settings) -> bool:
    redis = Redis.from_url(settings.redis_url or "")
    try:
        [(_, listeners)] = await redis.pubsub_numsub(WAKE_CHANNEL)
        return int(listeners) > 0
    finally:
        await redis.aclose()


async def statuses(api: Api) -> list[str]:
    async with api.db.transaction() as session:
        rows = await session.execute(text("SELECT status FROM webhook_deliveries ORDER BY id"))
        return [str(status) for status in rows.scalars()]


async def test_each_enqueue_wakes_a_worker_whose_next_poll_is_an_hour_away(
    api: Api, receiver: Receiver, settings: Settings
) -> None:
    admin = await api.key("acme", Role.ADMIN)
    async with running_worker(without_polling(settings)):
        await poll(lambda: is_listening_for_wake_ups(settings), what="the worker to listen for wake-ups")
        (await api.gql(SET_WEBHOOK, {"input": webhook_input(receiver.url)}, token=admin.jwt)).ok()
        (await api.gql(CREATE_KEY, token=admin.jwt)).ok()
        await receiver.wait_for(2, timeout=30)
        # The worker has polled once since it listens (it started that job); only a wake-up starts this one.
        (await api.gql(CREATE_KEY, token=admin.jwt)).ok()
        await receiver.wait_for(3, timeout=30)
        await poll(lambda: _all_delivered(api), timeout=30, what="every delivery to be recorded DELIVERED")

    assert receiver.actions() == ["audit_trail_webhook.set", "api_key.create", "api_key.create"]


async def test_a_wake_up_published_while_no_worker_listens_is_found_by_the_next_poll(
    api: Api, receiver: Receiver, settings: Settings
) -> None:
    admin = await api.key("acme", Role.ADMIN)
    (await api.gql(SET_WEBHOOK, {"input": webhook_input(receiver.url)}, token=admin.jwt)).ok()
    (await api.gql(CREATE_KEY, token=admin.jwt)).ok()  # queued and published to nobody

    async with running_worker(without_polling(settings)):
        await receiver.wait_for(2, timeout=30)

    assert receiver.actions() == ["audit_trail_webhook.set", "api_key.create"]


async def _all_delivered(api: Api) -> bool:
    return set(await statuses(api)) == {"DELIVERED"}
