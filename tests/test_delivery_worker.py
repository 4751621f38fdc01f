"""The arq worker delivers recorded events: signed, retried on the schedule, failed when it must."""

from __future__ import annotations

from datetime import datetime

import orjson
import pytest
from sqlalchemy import text

from api.audit.record import EventDraft, RunRef, now_ms, record_events
from api.logging import configure_logging
from api.models import EventType, Role
from api.settings import Settings
from api.webhooks.queue import connect_queue, enqueue_deliveries
from tests.helpers import Api, Key
from tests.receivers import (
    SET_WEBHOOK,
    WEBHOOK_QUERY,
    WEBHOOK_SECRET,
    Receiver,
    Reply,
    running_receiver,
    running_worker,
    webhook_input,
)
from tests.support.polling import poll

CREATE_KEY = 'mutation { apiKeyCreate(input: {name: "ci", role: SERVICE}) { id } }'


async def set_webhook(api: Api, admin: Key, endpoint: str, **fields: object) -> None:
    """A webhook that retries (retryOnFailure is off unless asked for, as in Spacelift)."""
    wanted = {"retryOnFailure": True, **fields}
    (await api.gql(SET_WEBHOOK, {"input": webhook_input(endpoint, **wanted)}, token=admin.jwt)).ok()


async def delivery_of(api: Api, action: str) -> dict[str, object]:
    async with api.db.transaction() as session:
        row = (
            await session.execute(
                text(
                    "SELECT id, status, attempts, last_status_code, last_error, next_attempt_at, updated_at"
                    " FROM webhook_deliveries WHERE action = :action"
                ),
                {"action": action},
            )
        ).one()
    return dict(row._mapping)


async def wait_for_status(api: Api, action: str, status: str, timeout: float = 15.0) -> dict[str, object]:
    async def settled() -> bool:
        return (await delivery_of(api, action))["status"] == status

    await poll(settled, timeout=timeout, what=f"{action} delivery to be {status}")
    return await delivery_of(api, action)


async def record_run_event(api: Api, key: Key, settings: Settings) -> None:
    """A run state change event through the domain function services call, then the after-commit wake-up."""
    draft = EventDraft(
        action="run.finished",
        actor="github::alice",
        timestamp_ms=now_ms(),
        event_type=EventType.UPDATE,
        run_state_change=True,
        run=RunRef(run_id="run-1", stack_id="stack-1"),
    )
    async with api.db.transaction() as session:
        batch = await record_events(
            session, [draft], account_id=key.account_id, account_name=key.account_name, recorded_by=key.id
        )
    queue = await connect_queue(settings.redis_url or "")
    try:
        await enqueue_deliveries(queue, batch.delivery_ids)
    finally:
        await queue.aclose()


async def test_a_recorded_event_is_delivered_by_the_worker(api: Api, receiver: Receiver, worker: None) -> None:
    admin = await api.key("acme", Role.ADMIN)
    headers = {"entries": [{"key": "X-Team", "value": "platform"}]}
    await set_webhook(api, admin, receiver.url, customHeaders=headers)
    (await api.gql(CREATE_KEY, token=admin.jwt)).ok()

    [_, request] = await receiver.wait_for(2)
    assert orjson.loads(request.body)["action"] == "api_key.create"
    assert request.header("X-Team") == "platform" and request.header("X-Audit-Attempt") == "1"
    delivered = await wait_for_status(api, "api_key.create", "DELIVERED")
    assert delivered["attempts"] == 1 and delivered["id"] == request.header("X-Audit-Delivery-Id")


async def test_run_events_are_delivered_only_with_include_runs(
    api: Api, receiver: Receiver, settings: Settings, worker: None
) -> None:
    admin = await api.key("acme", Role.ADMIN)
    await set_webhook(api, admin, receiver.url, includeRuns=False)
    await record_run_event(api, admin, settings)
    async with api.db.transaction() as session:
        owed = await session.execute(text("SELECT count(*) FROM webhook_deliveries WHERE action = 'run.finished'"))
        assert owed.scalar_one() == 0

    await set_webhook(api, admin, receiver.url, includeRuns=True)
    await record_run_event(api, admin, settings)
    await wait_for_status(api, "run.finished", "DELIVERED")
    assert receiver.actions() == ["audit_trail_webhook.set", "audit_trail_webhook.set", "run.finished"]


async def test_failing_twice_then_200_is_delivered_on_attempt_3(api: Api, worker: None) -> None:
    admin = await api.key("acme", Role.ADMIN)
    script = [Reply(status=200), Reply(status=500), Reply(status=503)]
    async with running_receiver(script=script) as receiver:
        await set_webhook(api, admin, receiver.url)
        (await api.gql(CREATE_KEY, token=admin.jwt)).ok()
        delivered = await wait_for_status(api, "api_key.create", "DELIVERED")
        attempts = receiver.requests[1:]
    assert delivered["attempts"] == 3 and delivered["last_status_code"] == 200
    assert [request.header("X-Audit-Attempt") for request in attempts] == ["1", "2", "3"]
    assert len({request.body for request in attempts}) == 1
    assert len({request.header("X-Audit-Delivery-Id") for request in attempts}) == 1
    health = (await api.gql(WEBHOOK_QUERY, token=admin.jwt)).ok()["auditTrailWebhook"]
    assert health["consecutiveFailures"] == 0


async def test_connection_errors_and_timeouts_are_retried(api: Api, worker: None) -> None:
    admin = await api.key("acme", Role.ADMIN)
    # webhook_timeout_seconds is 2 in tests: the second answer comes too late.
    script = [Reply(status=200), Reply(status=408), Reply(delay_seconds=2.5), Reply(status=429)]
    async with running_receiver(script=script) as receiver:
        await set_webhook(api, admin, receiver.url)
        (await api.gql(CREATE_KEY, token=admin.jwt)).ok()
        delivered = await wait_for_status(api, "api_key.create", "DELIVERED")
        assert len(receiver.requests) == 5
    assert delivered["attempts"] == 4


async def test_a_refused_connection_is_retried_until_the_schedule_ends(
    api: Api, settings: Settings, worker: None
) -> None:
    admin = await api.key("acme", Role.ADMIN)
    async with running_receiver() as receiver:
        await set_webhook(api, admin, receiver.url)
    (await api.gql(CREATE_KEY, token=admin.jwt)).ok()
    failed = await wait_for_status(api, "api_key.create", "FAILED")
    assert failed["attempts"] == len(settings.retry_schedule_seconds) + 1
    assert "ConnectError" in str(failed["last_error"]) and failed["last_status_code"] is None


async def test_400_fails_at_once_without_retry(api: Api, worker: None) -> None:
    admin = await api.key("acme", Role.ADMIN)
    async with running_receiver(script=[Reply(status=200)], default=Reply(status=400, body=b"no thanks")) as receiver:
        await set_webhook(api, admin, receiver.url)
        (await api.gql(CREATE_KEY, token=admin.jwt)).ok()
        failed = await wait_for_status(api, "api_key.create", "FAILED")
        assert len(receiver.requests) == 2
    assert failed["attempts"] == 1 and failed["last_status_code"] == 400 and failed["next_attempt_at"] is None
    webhook = (await api.gql(WEBHOOK_QUERY, {"status": "FAILED"}, token=admin.jwt)).ok()["auditTrailWebhook"]
    assert webhook["consecutiveFailures"] == 1
    [edge] = webhook["deliveries"]["edges"]
    assert edge["node"]["responseSnippet"] == "no thanks" and edge["node"]["status"] == "FAILED"


async def test_the_schedule_exhausted_fails_the_delivery(api: Api, settings: Settings, worker: None) -> None:
    admin = await api.key("acme", Role.ADMIN)
    async with running_receiver(script=[Reply(status=200)], default=Reply(status=500)) as receiver:
        await set_webhook(api, admin, receiver.url)
        (await api.gql(CREATE_KEY, token=admin.jwt)).ok()
        failed = await wait_for_status(api, "api_key.create", "FAILED")
    assert failed["attempts"] == len(settings.retry_schedule_seconds) + 1


@pytest.mark.parametrize("retry_on_failure", [False, None, "omitted"])
async def test_without_retry_on_failure_a_delivery_gets_one_attempt(
    api: Api, worker: None, retry_on_failure: object
) -> None:
    """Off by default, and null means off: the Terraform provider sends null for false."""
    admin = await api.key("acme", Role.ADMIN)
    wanted = webhook_input("")
    if retry_on_failure != "omitted":
        wanted["retryOnFailure"] = retry_on_failure
    async with running_receiver(script=[Reply(status=200)], default=Reply(status=503)) as receiver:
        wanted["endpoint"] = receiver.url
        saved = (await api.gql(SET_WEBHOOK, {"input": wanted}, token=admin.jwt)).ok()
        (await api.gql(CREATE_KEY, token=admin.jwt)).ok()
        failed = await wait_for_status(api, "api_key.create", "FAILED")
        assert len(receiver.requests) == 2
    assert failed["attempts"] == 1
    assert saved["auditTrailSetWebhook"]["retryOnFailure"] is False


async def test_retry_after_is_honoured(api: Api, worker: None) -> None:
    admin = await api.key("acme", Role.ADMIN)
    script = [Reply(status=200), Reply(status=429, headers=(("Retry-After", "120"),))]
    async with running_receiver(script=script) as receiver:
        await set_webhook(api, admin, receiver.url)
        (await api.gql(CREATE_KEY, token=admin.jwt)).ok()
        await receiver.wait_for(2)

        async def rescheduled() -> bool:
            return (await delivery_of(api, "api_key.create"))["last_status_code"] == 429

        await poll(rescheduled, what="the 429 to be recorded")
    pending = await delivery_of(api, "api_key.create")
    assert pending["status"] == "PENDING"
    next_attempt_at, recorded_at = pending["next_attempt_at"], pending["updated_at"]
    assert isinstance(next_attempt_at, datetime) and isinstance(recorded_at, datetime)
    # The schedule would have said 0.2 s; the receiver asked for 120 s.
    assert 119 <= (next_attempt_at - recorded_at).total_seconds() <= 121


async def test_retry_after_is_capped(api: Api, settings: Settings) -> None:
    admin = await api.key("acme", Role.ADMIN)
    script = [Reply(status=200), Reply(status=429, headers=(("Retry-After", "86400"),))]
    capped = settings.model_copy(update={"retry_after_cap_seconds": 0.3})
    async with running_receiver(script=script) as receiver, running_worker(capped):
        await set_webhook(api, admin, receiver.url)
        (await api.gql(CREATE_KEY, token=admin.jwt)).ok()
        delivered = await wait_for_status(api, "api_key.create", "DELIVERED")
    assert delivered["attempts"] == 2


async def test_a_delivery_whose_wake_up_was_lost_is_swept(api: Api, receiver: Receiver, settings: Settings) -> None:
    admin = await api.key("acme", Role.ADMIN)
    await set_webhook(api, admin, receiver.url)
    (await api.gql(CREATE_KEY, token=admin.jwt)).ok()
    queue = await connect_queue(settings.redis_url or "")
    await queue.flushall()
    await queue.aclose()
    async with running_worker(settings):
        await wait_for_status(api, "api_key.create", "DELIVERED")
    assert receiver.actions() == ["audit_trail_webhook.set", "api_key.create"]


async def test_failed_delivery_can_be_redelivered_after_the_endpoint_recovers(api: Api, worker: None) -> None:
    admin = await api.key("acme", Role.ADMIN)
    async with running_receiver(script=[Reply(status=200), Reply(status=410)]) as receiver:
        await set_webhook(api, admin, receiver.url)
        (await api.gql(CREATE_KEY, token=admin.jwt)).ok()
        failed = await wait_for_status(api, "api_key.create", "FAILED")
        redeliver = "mutation($id: ID!) { auditTrailRedeliver(id: $id) { status attempts lastStatusCode } }"
        result = (await api.gql(redeliver, {"id": failed["id"]}, token=admin.jwt)).ok()["auditTrailRedeliver"]
        assert result == {"status": "DELIVERED", "attempts": 2, "lastStatusCode": 200}
        # The redeliver mutation's own event may reach the receiver first: match the event's id.
        event_id = receiver.requests[1].header("X-Audit-Event-Id")
        same_event = [r.body for r in receiver.requests if r.header("X-Audit-Event-Id") == event_id]
        assert len(same_event) == 2 and same_event[0] == same_event[1]


async def test_secrets_stay_out_of_logs_responses_and_audit_rows(api: Api, capfd: object, settings: Settings) -> None:
    configure_logging(settings)  # log lines go to the stderr this test captures
    admin = await api.key("acme", Role.ADMIN)
    header_value = "Bearer custom-header-value-xyz"
    headers = {"entries": [{"key": "Authorization", "value": header_value}]}
    responses = []
    async with running_receiver(script=[Reply(status=200), Reply(status=500)]) as receiver, running_worker(settings):
        responses.append(
            await api.gql(SET_WEBHOOK, {"input": webhook_input(receiver.url, customHeaders=headers)}, token=admin.jwt)
        )
        responses.append(await api.gql("mutation { auditTrailTestWebhook { id status lastError } }", token=admin.jwt))
        (await api.gql(CREATE_KEY, token=admin.jwt)).ok()
        await wait_for_status(api, "api_key.create", "DELIVERED")
        responses.append(await api.gql(WEBHOOK_QUERY, token=admin.jwt))
        async with running_receiver(default=Reply(status=500)) as failing:
            responses.append(await api.gql(SET_WEBHOOK, {"input": webhook_input(failing.url)}, token=admin.jwt))
    assert receiver.requests[0].header("Authorization") == header_value
    async with api.db.transaction() as session:
        audit_rows = (await session.execute(text("SELECT * FROM audit_events"))).all()
        delivery_rows = (await session.execute(text("SELECT * FROM webhook_deliveries"))).all()
    output = capfd.readouterr()  # type: ignore[attr-defined]
    assert "delivery attempt" in output.err  # the worker did log its attempts
    for text_seen in [*(str(r.json) for r in responses), str(audit_rows), str(delivery_rows), output.out, output.err]:
        assert WEBHOOK_SECRET not in text_seen
        assert header_value not in text_seen and "custom-header-value-xyz" not in text_seen


async def test_two_workers_woken_for_the_same_deliveries_send_each_attempt_once(
    api: Api, receiver: Receiver, settings: Settings, worker: None
) -> None:
    admin = await api.key("acme", Role.ADMIN)
    await set_webhook(api, admin, receiver.url)
    drafts = [
        EventDraft(
            action=f"stack.updated.{n}", event_type=EventType.UPDATE, actor="github::alice", timestamp_ms=now_ms()
        )
        for n in range(30)
    ]
    async with running_worker(settings):
        async with api.db.transaction() as session:
            batch = await record_events(
                session, drafts, account_id=admin.account_id, account_name="acme", recorded_by=admin.id
            )
        queue = await connect_queue(settings.redis_url or "")
        try:
            for delivery_id in batch.delivery_ids:  # two wake-ups per delivery, under different job ids
                await queue.enqueue_job("deliver", delivery_id, _job_id=f"first:{delivery_id}")
                await queue.enqueue_job("deliver", delivery_id, _job_id=f"second:{delivery_id}")
        finally:
            await queue.aclose()
        await receiver.wait_for(1 + len(drafts))

        async def all_delivered() -> bool:
            async with api.db.transaction() as session:
                result = await session.execute(
                    text("SELECT count(*) FROM webhook_deliveries WHERE status = 'DELIVERED'")
                )
                return int(result.scalar_one()) == 1 + len(drafts)

        await poll(all_delivered, what="all deliveries to be DELIVERED")
    sent = [(request.header("X-Audit-Delivery-Id"), request.header("X-Audit-Attempt")) for request in receiver.requests]
    assert len(sent) == len(set(sent)) == 1 + len(drafts)


async def test_a_worker_that_refuses_private_endpoints_does_not_send_to_them(
    api: Api, receiver: Receiver, settings: Settings
) -> None:
    admin = await api.key("acme", Role.ADMIN)
    await set_webhook(api, admin, receiver.url)
    (await api.gql(CREATE_KEY, token=admin.jwt)).ok()
    async with running_worker(settings.model_copy(update={"allow_private_endpoints": False})):
        failed = await wait_for_status(api, "api_key.create", "FAILED")
    assert "private" in str(failed["last_error"]) and failed["attempts"] == 1
    assert receiver.actions() == ["audit_trail_webhook.set"]
