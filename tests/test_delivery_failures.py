"""Whatever fails between claiming and recording an attempt, the attempt is recorded, counted, and the
attempt limit holds: no delivery is sent again and again past its schedule."""

from __future__ import annotations

from sqlalchemy import text

from api.models import Role
from api.settings import Settings
from api.webhooks.crypto import encrypt_headers
from tests.conftest import TEST_SECRET_KEY
from tests.helpers import Api
from tests.receivers import Reply, running_receiver
from tests.test_delivery_worker import CREATE_KEY, delivery_of, set_webhook, wait_for_status


async def test_a_send_that_raises_inside_the_service_is_recorded_and_retried_to_the_limit(
    api: Api, settings: Settings, worker: None
) -> None:
    """A header value stored before values had to be ASCII makes httpx raise while encoding the request."""
    admin = await api.key("acme", Role.ADMIN)
    async with running_receiver() as receiver:
        await set_webhook(api, admin, receiver.url)
        async with api.db.transaction() as session:
            await session.execute(
                text("UPDATE webhooks SET custom_headers_encrypted = :headers"),
                {"headers": encrypt_headers(TEST_SECRET_KEY, [("X-Team", "café")])},
            )
        (await api.gql(CREATE_KEY, token=admin.jwt)).ok()
        failed = await wait_for_status(api, "api_key.create", "FAILED")
        assert len(receiver.requests) == 1  # verify-on-save only: nothing else could be sent
    assert failed["attempts"] == len(settings.retry_schedule_seconds) + 1
    assert "the attempt failed inside the service (UnicodeEncodeError)" in str(failed["last_error"])
    assert "café" not in str(failed["last_error"])


async def test_a_delivery_past_its_attempt_limit_is_failed_without_being_sent(
    api: Api, settings: Settings, worker: None
) -> None:
    """Earlier attempts that ended unrecorded (a killed worker) still count."""
    admin = await api.key("acme", Role.ADMIN)
    async with running_receiver(script=[Reply()], default=Reply(status=503)) as receiver:
        await set_webhook(api, admin, receiver.url, retryOnFailure=False)
        async with api.db.transaction() as session:
            await session.execute(text("UPDATE webhooks SET retry_on_failure = false"))
        (await api.gql(CREATE_KEY, token=admin.jwt)).ok()
        await wait_for_status(api, "api_key.create", "FAILED")
        sent_before = len(receiver.requests)
        async with api.db.transaction() as session:
            # As if the one attempt it gets had been claimed and the worker had died before recording it
            # (no history row: a recorded attempt would mean a person queued it again, which is sent).
            await session.execute(
                text(
                    "DELETE FROM webhook_delivery_attempts WHERE delivery_id IN"
                    " (SELECT id FROM webhook_deliveries WHERE action = 'api_key.create')"
                )
            )
            await session.execute(
                text(
                    "UPDATE webhook_deliveries SET status = 'PENDING', next_attempt_at = now(), last_error = NULL"
                    " WHERE action = 'api_key.create'"
                )
            )
        failed = await wait_for_status(api, "api_key.create", "FAILED")
        assert len(receiver.requests) == sent_before
    assert failed["attempts"] == 2
    assert "the attempt limit was reached" in str(failed["last_error"])
    assert (await delivery_of(api, "api_key.create"))["next_attempt_at"] is None
