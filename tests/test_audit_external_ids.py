"""Idempotent ingestion: an event's ``externalId`` is stored once per account, whoever retries it."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from sqlalchemy import text

from api.audit.ingest import IncomingEvent, IngestedBatch, IngestLimits, ingest_events
from api.db import Database
from api.models import EventType, Role
from tests.helpers import Api, Key
from tests.test_audit_support import event_count

RECORD = (
    "mutation($events: [AuditTrailEventInput!]!) { auditTrailRecordEvents(events: $events) {"
    " id action externalId body context data timestamp } }"
)
ENTRY = "query($id: ID!) { auditTrailEntry(id: $id) { id externalId body } }"


def event(**overrides: Any) -> dict[str, Any]:
    return {"action": "stack.create", "actor": "github::alice", "eventType": "CREATE", **overrides}


async def record(api: Api, key: Key, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = (await api.gql(RECORD, {"events": events}, token=key.jwt)).ok()[
        "auditTrailRecordEvents"
    ]
    return entries


async def claims(db: Database, account_id: str) -> dict[str, str]:
    """The account's external ids and the event each one names."""
    async with db.transaction() as session:
        rows = await session.execute(
            text("SELECT external_id, event_id FROM audit_event_external_ids WHERE account_id = :a"), {"a": account_id}
        )
        return {str(row.external_id): str(row.event_id) for row in rows}


async def test_a_retried_batch_is_a_no_op_that_returns_the_stored_entries(api: Api) -> None:
    service = await api.key("acme", Role.SERVICE)
    batch = [event(externalId="deploy-1"), event(action="stack.delete", eventType="DELETE", externalId="deploy-2")]
    first = await record(api, service, batch)
    stored = await event_count(api.db, service.account_id)

    retried = await record(api, service, batch)

    assert retried == first
    assert [entry["externalId"] for entry in retried] == ["deploy-1", "deploy-2"]
    assert await event_count(api.db, service.account_id) == stored
    assert await claims(api.db, service.account_id) == {"deploy-1": first[0]["id"], "deploy-2": first[1]["id"]}


async def test_a_batch_mixing_new_and_known_ids_stores_only_the_new_ones_and_answers_in_order(api: Api) -> None:
    service = await api.key("acme", Role.SERVICE)
    known_a, known_b = await record(api, service, [event(externalId="a"), event(action="stack.update", externalId="b")])
    stored = await event_count(api.db, service.account_id)

    mixed = await record(
        api,
        service,
        [
            event(action="stack.lock", externalId="c"),
            event(externalId="a"),
            event(action="stack.unlock"),
            event(action="stack.update", externalId="b"),
        ],
    )

    assert [entry["action"] for entry in mixed] == ["stack.lock", "stack.create", "stack.unlock", "stack.update"]
    assert (mixed[1], mixed[3]) == (known_a, known_b)
    assert len({entry["id"] for entry in mixed}) == 4
    assert await event_count(api.db, service.account_id) == stored + 2
    assert (await claims(api.db, service.account_id))["c"] == mixed[0]["id"]


async def test_a_known_id_with_other_content_answers_with_the_stored_event_unchanged(api: Api) -> None:
    service = await api.key("acme", Role.SERVICE)
    [original] = await record(api, service, [event(externalId="evt-7", data={"version": 1})])

    [answered] = await record(
        api, service, [event(action="stack.delete", eventType="DELETE", externalId="evt-7", data={"version": 2})]
    )

    assert answered == original
    assert answered["data"] == {"version": 1}
    reader = await api.key("acme", Role.READER)
    shown = (await api.gql(ENTRY, {"id": original["id"]}, token=reader.jwt)).ok()["auditTrailEntry"]
    assert shown["body"] == original["body"]


async def test_another_accounts_identical_external_id_is_independent(api: Api) -> None:
    acme, globex = await api.key("acme", Role.SERVICE), await api.key("globex", Role.SERVICE)
    [at_acme] = await record(api, acme, [event(externalId="shared-id", data={"tenant": "acme"})])

    [at_globex] = await record(api, globex, [event(externalId="shared-id", data={"tenant": "globex"})])

    assert at_globex["id"] != at_acme["id"]
    assert (at_acme["data"], at_globex["data"]) == ({"tenant": "acme"}, {"tenant": "globex"})
    assert json.loads(at_globex["body"])["account"] == "globex"
    globex_reader = await api.key("globex", Role.READER)
    assert (await api.gql(ENTRY, {"id": at_acme["id"]}, token=globex_reader.jwt)).ok()["auditTrailEntry"] is None
    assert await claims(api.db, globex.account_id) == {"shared-id": at_globex["id"]}


async def test_the_external_id_is_on_the_entry_and_in_the_body_context(api: Api) -> None:
    service = await api.key("acme", Role.SERVICE)
    with_id, without = await record(api, service, [event(externalId="01J0ABCDEF/x:y@z+=_.-"), event()])

    assert json.loads(with_id["body"])["context"]["externalId"] == "01J0ABCDEF/x:y@z+=_.-"
    assert list(json.loads(with_id["body"])) == [
        "account",
        "action",
        "actor",
        "context",
        "data",
        "remoteIP",
        "timestamp",
    ]
    assert "externalId" not in json.loads(without["body"])["context"]
    assert without["externalId"] is None
    reader = await api.key("acme", Role.READER)
    shown = (await api.gql(ENTRY, {"id": with_id["id"]}, token=reader.jwt)).ok()["auditTrailEntry"]
    assert shown["externalId"] == "01J0ABCDEF/x:y@z+=_.-"


@pytest.mark.parametrize(
    "bad",
    ["", "x" * 129, "has space", "tab\there", "trailing-newline\n", "nul\x00byte", "ünïcode", "quote'\"", "a,b"],
)
async def test_external_ids_that_are_not_plain_tokens_are_refused(api: Api, bad: str) -> None:
    service = await api.key("acme", Role.SERVICE)
    before = await event_count(api.db)

    result = await api.gql(RECORD, {"events": [event(), event(externalId=bad)]}, token=service.jwt)

    assert result.codes == ["BAD_USER_INPUT"]
    message = result.errors[0]["message"]
    assert message.startswith("events[1].externalId must be 1 to 128 characters of letters, digits")
    assert "x" * 129 not in message
    assert await event_count(api.db) == before


async def test_one_batch_may_not_name_an_external_id_twice(api: Api) -> None:
    service = await api.key("acme", Role.SERVICE)
    before = await event_count(api.db)

    result = await api.gql(
        RECORD, {"events": [event(externalId="dup"), event(), event(externalId="dup")]}, token=service.jwt
    )

    assert result.codes == ["BAD_USER_INPUT"]
    assert "events[2].externalId 'dup' is also the externalId of events[0]" in result.errors[0]["message"]
    assert await event_count(api.db) == before
    assert await claims(api.db, service.account_id) == {}


async def test_a_reader_cannot_record_nor_claim_an_external_id(api: Api) -> None:
    reader = await api.key("acme", Role.READER)

    result = await api.gql(RECORD, {"events": [event(externalId="reader-1")]}, token=reader.jwt)

    assert result.codes == ["FORBIDDEN"]
    assert await claims(api.db, reader.account_id) == {}


class Abandon(Exception):
    """Raised to roll a transaction back."""


def incoming(external_id: str, action: str) -> IncomingEvent:
    return IncomingEvent(action=action, actor="github::alice", event_type=EventType.UPDATE, external_id=external_id)


async def ingest(db: Database, key: Key, events: list[IncomingEvent]) -> IngestedBatch:
    """One batch in a transaction of its own, as the mutation runs it."""
    async with db.transaction() as session:
        return await ingest_events(session, events, limits(), **as_recorder(key))


def limits() -> IngestLimits:
    return IngestLimits(now_ms=int(time.time() * 1000), retention_days=30)


def as_recorder(key: Key) -> dict[str, str]:
    return {"account_id": key.account_id, "account_name": key.account_name, "recorded_by": key.id}


async def wait_until_a_statement_waits_for_a_lock(db: Database, timeout: float = 10.0) -> None:
    """Poll PostgreSQL until some backend waits on a lock: the second batch is inside the race."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        async with db.transaction() as session:
            waiting = await session.execute(
                # Waiting for another transaction to end: how an INSERT waits on an uncommitted equal key.
                text("SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'transactionid'")
            )
            if waiting.scalar_one():
                return
        await asyncio.sleep(0.02)
    raise AssertionError(f"no statement waited for a lock within {timeout} s")


async def test_two_concurrent_batches_with_the_same_external_id_store_one_event(api: Api) -> None:
    service = await api.key("acme", Role.SERVICE)
    async with api.db.transaction() as session:
        events = [incoming("race-1", "stack.create"), incoming("only-first", "stack.lock")]
        first = await ingest_events(session, events, limits(), **as_recorder(service))
        # The second batch claims race-1 while the first holds it uncommitted: it must wait.
        second_batch = asyncio.create_task(
            ingest(api.db, service, [incoming("only-second", "stack.unlock"), incoming("race-1", "stack.delete")])
        )
        await wait_until_a_statement_waits_for_a_lock(api.db)
        assert not second_batch.done()
    second = await second_batch

    assert second.entries[1].id == first.entries[0].id
    assert second.entries[1].action == "stack.create"  # the first write wins
    assert second.entries[0].action == "stack.unlock"
    assert set(await claims(api.db, service.account_id)) == {"race-1", "only-first", "only-second"}
    async with api.db.transaction() as session:
        stored = await session.execute(
            text("SELECT count(*) FROM audit_events WHERE account_id = :a AND context->>'externalId' = 'race-1'"),
            {"a": service.account_id},
        )
        assert stored.scalar_one() == 1


async def test_a_batch_waiting_on_one_that_rolls_back_stores_the_event_itself(api: Api) -> None:
    service = await api.key("acme", Role.SERVICE)
    with pytest.raises(Abandon):
        async with api.db.transaction() as session:
            await ingest_events(session, [incoming("race-2", "stack.create")], limits(), **as_recorder(service))
            second_batch = asyncio.create_task(ingest(api.db, service, [incoming("race-2", "stack.delete")]))
            await wait_until_a_statement_waits_for_a_lock(api.db)
            raise Abandon
    second = await second_batch

    [entry] = second.entries
    assert entry.action == "stack.delete"
    assert await claims(api.db, service.account_id) == {"race-2": entry.id}
