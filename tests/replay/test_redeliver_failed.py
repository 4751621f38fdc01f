""" "Redeliver all failed": the account's failed deliveries, and only those, each sent once more by the
real worker to a real receiver, a bounded batch per call; ADMIN only."""

from __future__ import annotations

from collections import Counter

import orjson
from sqlalchemy import text

from api.models import Role
from tests.helpers import Api, Key
from tests.receivers import SET_WEBHOOK, Receiver, Reply, webhook_input
from tests.replay.conftest import REDELIVER_FAILED_MAX
from tests.replay.support import event_ids
from tests.support.polling import poll
from tests.test_audit_support import draft, seed

REDELIVER_FAILED = """mutation($input: AuditTrailRedeliverFailedInput) {
  auditTrailRedeliverFailed(input: $input) { queued remaining } }"""
MISSED = 8  # more than one call queues (REDELIVER_FAILED_MAX)


async def statuses(api: Api, account_id: str) -> Counter[str]:
    async with api.db.transaction() as session:
        rows = await session.execute(
            text("SELECT status FROM webhook_deliveries WHERE account_id = :account"), {"account": account_id}
        )
        return Counter(str(row[0]) for row in rows)


async def fail_deliveries(api: Api, receiver: Receiver, admin: Key, path: str) -> list[str]:
    """A webhook (retryOnFailure off) that delivered one event, then ``MISSED`` events it failed."""
    (await api.gql(SET_WEBHOOK, {"input": webhook_input(f"{receiver.url}/{path}")}, token=admin.jwt)).ok()
    await seed(api.db, admin.account_id, [draft("before.outage")], account_name=admin.account_name)
    await poll(lambda: _count(api, admin.account_id, "DELIVERED", 2), what="the deliveries before the outage")
    receiver.reply_for = lambda request: Reply(status=503)
    missed = await seed(
        api.db,
        admin.account_id,
        [draft(f"missed.n{n}", data={"n": n}) for n in range(MISSED)],
        account_name=admin.account_name,
    )
    await poll(lambda: _count(api, admin.account_id, "FAILED", MISSED), what="the outage's deliveries to fail")
    receiver.reply_for = None
    return missed


async def _count(api: Api, account_id: str, status: str, expected: int) -> bool:
    return (await statuses(api, account_id))[status] == expected


async def test_only_this_accounts_failed_deliveries_are_each_delivered_once_more(
    api: Api, receiver: Receiver, worker: None
) -> None:
    acme = await api.key("acme", Role.ADMIN)
    globex = await api.key("globex", Role.ADMIN)
    missed = await fail_deliveries(api, receiver, acme, "acme")
    await fail_deliveries(api, receiver, globex, "globex")
    failed_bodies = {r.header("X-Audit-Event-Id"): r.body for r in receiver.requests if r.path == "/hook/acme"}
    mark = len(receiver.requests)

    first = (await api.gql(REDELIVER_FAILED, {"input": {}}, token=acme.jwt)).ok()["auditTrailRedeliverFailed"]
    assert first == {"queued": REDELIVER_FAILED_MAX, "remaining": MISSED - REDELIVER_FAILED_MAX}
    second = (await api.gql(REDELIVER_FAILED, {}, token=acme.jwt)).ok()["auditTrailRedeliverFailed"]
    assert second == {"queued": MISSED - REDELIVER_FAILED_MAX, "remaining": 0}

    def resent() -> list[str]:
        return [
            r.header("X-Audit-Event-Id") or ""
            for r in receiver.requests[mark:]
            if r.path == "/hook/acme" and not orjson.loads(r.body)["action"].startswith("audit_trail_webhook.")
        ]

    await poll(lambda: len(resent()) >= MISSED, what="every failed delivery to be sent again")
    await poll(lambda: _count(api, acme.account_id, "FAILED", 0), what="the redeliveries to be recorded")
    assert Counter(resent()) == {event_id: 1 for event_id in missed}
    again = [r for r in receiver.requests[mark:] if r.path == "/hook/acme" and r.header("X-Audit-Event-Id") in missed]
    assert all(r.body == failed_bodies[r.header("X-Audit-Event-Id")] for r in again)
    # The calls themselves are audited, and delivered like any event of the account.
    audited = [orjson.loads(r.body) for r in receiver.requests[mark:] if r.path == "/hook/acme"]
    assert [body["action"] for body in audited].count("audit_trail_webhook.redeliver_failed") == 2
    assert not [r for r in receiver.requests[mark:] if r.path == "/hook/globex"]
    assert (await statuses(api, globex.account_id))["FAILED"] == MISSED
    assert event_ids(receiver.requests)[missed[0]] == 2  # the failed attempt, then the one that arrived


async def test_a_reader_is_refused_and_nothing_is_queued(api: Api, receiver: Receiver, worker: None) -> None:
    admin = await api.key("acme", Role.ADMIN)
    await fail_deliveries(api, receiver, admin, "acme")
    reader = await api.key("acme", Role.READER)
    refused = await api.gql(REDELIVER_FAILED, {"input": {}}, token=reader.jwt)
    assert refused.codes == ["FORBIDDEN"]
    backwards = {"input": {"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}}
    bad = await api.gql(REDELIVER_FAILED, backwards, token=admin.jwt)
    assert bad.codes == ["BAD_USER_INPUT"] and "must not be after" in bad.errors[0]["message"]
    none_in_range = {"input": {"from": "2020-01-01T00:00:00Z", "to": "2020-01-02T00:00:00Z"}}
    empty = (await api.gql(REDELIVER_FAILED, none_in_range, token=admin.jwt)).ok()["auditTrailRedeliverFailed"]
    assert empty == {"queued": 0, "remaining": 0}
    assert (await statuses(api, admin.account_id))["FAILED"] == MISSED
