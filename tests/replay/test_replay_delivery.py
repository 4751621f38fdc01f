"""Replays end to end with the real worker and receiver: every missed event once more, in order, with
its stored body; live events are not held up behind the replay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
from sqlalchemy import text

from api.models import Role
from tests.helpers import Api
from tests.receivers import SET_WEBHOOK, Receiver, Reply, webhook_input
from tests.replay.conftest import BATCH_SIZE
from tests.replay.support import REPLAY, event_ids, replay_input, wait_until_finished
from tests.support.polling import poll
from tests.test_audit_support import draft, seed

RECORD = "mutation($events: [AuditTrailEventInput!]!) { auditTrailRecordEvents(events: $events) { id } }"


async def failed_deliveries(api: Api, event_ids_: list[str]) -> int:
    async with api.db.transaction() as session:
        result = await session.execute(
            text("SELECT count(*) FROM webhook_deliveries WHERE status = 'FAILED' AND event_id = ANY(:ids)"),
            {"ids": event_ids_},
        )
        return int(result.scalar_one())


async def test_after_an_outage_a_replay_of_the_window_delivers_every_missed_event_exactly_once_more(
    api: Api, receiver: Receiver, worker: None
) -> None:
    admin = await api.key("acme", Role.ADMIN)
    (await api.gql(SET_WEBHOOK, {"input": webhook_input(receiver.url)}, token=admin.jwt)).ok()  # retryOnFailure off
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    before = await seed(
        api.db, admin.account_id, [draft(f"before.n{n}", at=start + timedelta(seconds=n)) for n in range(3)]
    )
    await receiver.wait_for(1 + len(before))

    receiver.reply_for = lambda request: Reply(status=503)
    outage_start = start + timedelta(minutes=10)
    missed = await seed(
        api.db,
        admin.account_id,
        [draft(f"missed.n{n}", at=outage_start + timedelta(seconds=n), data={"n": n}) for n in range(45)],
    )
    await poll(lambda: _all_failed(api, missed), timeout=30, what="every delivery of the outage to fail")
    outage_bodies = {
        r.header("X-Audit-Event-Id"): r.body for r in receiver.requests if r.header("X-Audit-Event-Id") in missed
    }
    receiver.reply_for = None
    after = await seed(
        api.db, admin.account_id, [draft(f"after.n{n}", at=start + timedelta(minutes=20, seconds=n)) for n in range(3)]
    )
    await poll(lambda: sum(event_ids(receiver.requests)[e] for e in after) == 3, what="the later events")

    mark = len(receiver.requests)
    window = replay_input(outage_start, outage_start + timedelta(seconds=44))
    started = (await api.gql(REPLAY, window, token=admin.jwt)).ok()["auditTrailReplay"]
    assert (started["status"], started["total"]) == ("RUNNING", 45)
    finished = await wait_until_finished(api, admin, started["id"])
    assert (finished["enqueued"], finished["delivered"], finished["failed"], finished["pending"]) == (45, 45, 0, 0)

    replayed = [r for r in receiver.requests[mark:] if orjson.loads(r.body)["action"] != "audit_trail_webhook.replay"]
    assert event_ids(replayed) == {event_id: 1 for event_id in missed}
    # Oldest first, a batch at a time: the worker sends one batch's deliveries concurrently, and the
    # next batch is enqueued only once the previous one has left PENDING.
    batch_of = [missed.index(r.header("X-Audit-Event-Id") or "") // BATCH_SIZE for r in replayed]
    assert batch_of == sorted(batch_of)
    assert all(r.body == outage_bodies[r.header("X-Audit-Event-Id")] for r in replayed)
    assert {r.header("X-Audit-Delivery-Id") for r in replayed}.isdisjoint(
        r.header("X-Audit-Delivery-Id") for r in receiver.requests[:mark]
    )


async def _all_failed(api: Api, event_ids_: list[str]) -> bool:
    return await failed_deliveries(api, event_ids_) == len(event_ids_)


async def test_live_events_arrive_while_a_replay_is_still_running(api: Api, receiver: Receiver, worker: None) -> None:
    admin = await api.key("acme", Role.ADMIN)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    old = await seed(
        api.db, admin.account_id, [draft(f"old.n{n}", at=start + timedelta(seconds=n)) for n in range(300)]
    )
    receiver.default = Reply(delay_seconds=0.02)
    (await api.gql(SET_WEBHOOK, {"input": webhook_input(receiver.url)}, token=admin.jwt)).ok()
    await receiver.wait_for(1)
    started = (await api.gql(REPLAY, replay_input(start, start + timedelta(minutes=10)), token=admin.jwt)).ok()
    await poll(lambda: sum(event_ids(receiver.requests)[e] for e in old) >= BATCH_SIZE, what="the replay to begin")

    live = (
        await api.gql(
            RECORD,
            {"events": [{"action": "stack.live", "actor": "github::alice", "eventType": "CREATE"}]},
            token=admin.jwt,
        )
    ).ok()
    live_id = live["auditTrailRecordEvents"][0]["id"]
    await poll(lambda: event_ids(receiver.requests)[live_id] == 1, what="the live event")
    replayed_before_live = sum(event_ids(receiver.requests)[e] for e in old)
    # Queued behind at most the batch in flight, not behind the rest of the replay.
    assert replayed_before_live < len(old) - 2 * BATCH_SIZE
    finished = await wait_until_finished(api, admin, started["auditTrailReplay"]["id"])
    assert finished["delivered"] == len(old)
    assert event_ids(receiver.requests)[live_id] == 1
