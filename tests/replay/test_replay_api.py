"""auditTrailReplay, auditTrailReplays and auditTrailCancelReplay: who may, what is refused, what is
selected and recorded, and what a cancel leaves behind (no worker runs here: the rows tell)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from api.db import Database
from api.models import Role
from api.webhooks import advance_replays
from tests.helpers import Api, Key
from tests.receivers import SET_WEBHOOK, Receiver, webhook_input
from tests.replay.conftest import BATCH_SIZE, MAX_EVENTS
from tests.replay.support import CANCEL, REPLAY, replay_input, replays
from tests.test_audit_support import draft, predicate, seed

START = datetime(2026, 1, 1, tzinfo=UTC)


async def admin_with_webhook(api: Api, receiver: Receiver, account: str = "acme") -> Key:
    admin = await api.key(account, Role.ADMIN)
    (await api.gql(SET_WEBHOOK, {"input": webhook_input(receiver.url)}, token=admin.jwt)).ok()
    return admin


async def replay_deliveries(db: Database, replay_id: str) -> list[tuple[str, str, str | None]]:
    async with db.transaction() as session:
        rows = await session.execute(
            text("SELECT action, status, last_error FROM webhook_deliveries WHERE replay_id = :id ORDER BY id"),
            {"id": replay_id},
        )
        return [(row.action, row.status, row.last_error) for row in rows]


async def advance(db: Database) -> list[str]:
    """One tick of the worker's replay cron."""
    async with db.transaction() as session:
        return await advance_replays(session, batch_size=BATCH_SIZE)


async def test_predicates_select_what_is_replayed_and_the_replay_is_audited(api: Api, receiver: Receiver) -> None:
    admin = await admin_with_webhook(api, receiver)
    actions = ["stack.create", "policy.attach", "stack.delete", "run.finished"]
    await seed(api.db, admin.account_id, [draft(a, at=START + timedelta(minutes=n)) for n, a in enumerate(actions)])
    await seed(api.db, admin.account_id, [draft("stack.update", at=START + timedelta(days=1))])  # outside the range
    chosen = replay_input(
        START, START + timedelta(hours=1), predicates=[predicate("action", stringMatches=["stack.*"])]
    )
    started = (await api.gql(REPLAY, chosen, token=admin.jwt)).ok()["auditTrailReplay"]
    assert (started["total"], started["from"], started["to"]) == (
        2,
        "2026-01-01T00:00:00+00:00",
        "2026-01-01T01:00:00+00:00",
    )
    assert len(await advance(api.db)) == 2
    assert [action for action, _, _ in await replay_deliveries(api.db, started["id"])] == [
        "stack.create",
        "stack.delete",
    ]
    assert len(await advance(api.db)) == 0  # all enqueued; the replay runs until they leave PENDING
    async with api.db.transaction() as session:
        recorded = (
            await session.execute(
                text("SELECT related_resource_type, data FROM audit_events WHERE action = 'audit_trail_webhook.replay'")
            )
        ).one()
    assert recorded.related_resource_type == "AUDIT_TRAIL_WEBHOOK"
    assert recorded.data["args"]["Predicates"][0]["Field"] == "action"


async def test_one_replay_at_a_time_and_cancel_fails_what_was_not_sent(api: Api, receiver: Receiver) -> None:
    admin = await admin_with_webhook(api, receiver)
    await seed(api.db, admin.account_id, [draft(f"e.n{n}", at=START + timedelta(seconds=n)) for n in range(50)])
    window = replay_input(START, START + timedelta(hours=1))
    started = (await api.gql(REPLAY, window, token=admin.jwt)).ok()["auditTrailReplay"]
    second = await api.gql(REPLAY, window, token=admin.jwt)
    assert second.codes == ["CONFLICT"] and started["id"] in second.errors[0]["message"]
    assert len(await advance(api.db)) == BATCH_SIZE
    cancelled = (await api.gql(CANCEL, {"id": started["id"]}, token=admin.jwt)).ok()["auditTrailCancelReplay"]
    assert (cancelled["status"], cancelled["failed"], cancelled["pending"]) == ("CANCELLED", BATCH_SIZE, 0)
    assert {(status, error) for _, status, error in await replay_deliveries(api.db, started["id"])} == {
        ("FAILED", "replay cancelled")
    }
    assert await advance(api.db) == []  # nothing more is enqueued
    again = await api.gql(CANCEL, {"id": started["id"]}, token=admin.jwt)
    assert again.codes == ["CONFLICT"]
    listed = await replays(api, admin)
    assert [(r["id"], r["status"], r["enqueued"]) for r in listed] == [(started["id"], "CANCELLED", BATCH_SIZE)]
    assert (await api.gql(REPLAY, window, token=admin.jwt)).ok()  # the next one may start


async def test_refusals_say_what_is_allowed(api: Api, receiver: Receiver) -> None:
    admin = await api.key("acme", Role.ADMIN)
    window = replay_input(START, START + timedelta(hours=1))
    assert (await api.gql(REPLAY, window, token=admin.jwt)).codes == ["NOT_FOUND"]  # no webhook yet
    (await api.gql(SET_WEBHOOK, {"input": webhook_input(receiver.url)}, token=admin.jwt)).ok()
    backwards = await api.gql(REPLAY, replay_input(START, START - timedelta(seconds=1)), token=admin.jwt)
    assert backwards.codes == ["BAD_USER_INPUT"] and "must not be after" in backwards.errors[0]["message"]
    by_predicate = replay_input(
        START, START, predicates=[predicate("createdAt", timeInLast={"number": 1, "unit": "DAYS"})]
    )
    assert "as from and to" in (await api.gql(REPLAY, by_predicate, token=admin.jwt)).errors[0]["message"]
    await seed(api.db, admin.account_id, [draft(at=START + timedelta(seconds=n)) for n in range(MAX_EVENTS + 1)])
    too_many = await api.gql(REPLAY, window, token=admin.jwt)
    assert too_many.codes == ["BAD_USER_INPUT"] and f"at most {MAX_EVENTS}" in too_many.errors[0]["message"]
    (await api.gql("mutation { auditTrailDisableWebhook { enabled } }", token=admin.jwt)).ok()
    assert (await api.gql(REPLAY, window, token=admin.jwt)).codes == ["CONFLICT"]
    assert await replays(api, admin) == []  # nothing refused was stored


async def test_readers_and_other_accounts_cannot_replay_see_or_cancel(api: Api, receiver: Receiver) -> None:
    admin = await admin_with_webhook(api, receiver)
    started = (await api.gql(REPLAY, replay_input(START, START), token=admin.jwt)).ok()["auditTrailReplay"]
    reader = await api.key("acme", Role.READER)
    assert (await api.gql(REPLAY, replay_input(START, START), token=reader.jwt)).codes == ["FORBIDDEN"]
    assert (await api.gql(CANCEL, {"id": started["id"]}, token=reader.jwt)).codes == ["FORBIDDEN"]
    assert (await api.gql("{ auditTrailReplays { id } }", token=reader.jwt)).codes == ["FORBIDDEN"]
    outsider = await api.key("globex", Role.ADMIN)
    assert (await api.gql(CANCEL, {"id": started["id"]}, token=outsider.jwt)).codes == ["NOT_FOUND"]
    assert await replays(api, outsider) == []
    assert [r["status"] for r in await replays(api, admin)] == ["RUNNING"]
