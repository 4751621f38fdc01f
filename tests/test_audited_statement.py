"""``apiKeyCreate`` writes its key, its event and the event's delivery with one statement in autocommit
(``AuditedMutation.run_in_one_statement``): the key and its event commit together or not at all, and a
lost connection is answered as anywhere else."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from arq.constants import job_key_prefix
from redis.asyncio import Redis
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Engine

from api.audit.facts import Principal
from api.audit.record import ChangeStatement, EventDraft, Recording, record_events_with
from api.db import Database
from api.models import EventType, Role
from api.settings import Settings
from api.webhooks.queue import delivery_job_id
from tests.helpers import Api
from tests.receivers import SET_WEBHOOK, Receiver, webhook_input
from tests.test_audit_support import event_count

CREATE_KEY = 'mutation { apiKeyCreate(input: {name: "ci", role: SERVICE}) { id secret } }'


@pytest.fixture
def statements_sent() -> Iterator[list[tuple[str, bool]]]:
    """Each statement any engine of this process sends meanwhile, and whether it ran in autocommit."""
    sent: list[tuple[str, bool]] = []

    def record(connection: Connection, cursor: object, statement: str, *args: Any) -> None:
        sent.append(
            (" ".join(statement.split()), connection.get_execution_options().get("isolation_level") == "AUTOCOMMIT")
        )

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(Engine, "before_cursor_execute", record)


async def key_count(db: Database) -> int:
    async with db.transaction() as session:
        return int((await session.execute(text("SELECT count(*) FROM api_keys"))).scalar_one())


async def execute(db: Database, sql: str) -> None:
    async with db.transaction() as session:
        await session.execute(text(sql))


async def test_a_new_key_and_its_event_are_one_statement_in_autocommit(
    api: Api, statements_sent: list[tuple[str, bool]]
) -> None:
    admin = await api.key("acme", Role.ADMIN)
    before = await event_count(api.db)
    statements_sent.clear()
    created = (await api.gql(CREATE_KEY, token=admin.jwt)).ok()["apiKeyCreate"]
    [(statement, is_autocommit)] = statements_sent
    assert statement.startswith("WITH change AS (INSERT INTO api_keys") and is_autocommit
    assert await event_count(api.db) == before + 1
    async with api.db.transaction() as session:
        affected = (
            await session.execute(text("SELECT affected_resource_id FROM audit_events WHERE action = 'api_key.create'"))
        ).scalar_one()
        stored_hash = (
            await session.execute(text("SELECT secret_hash FROM api_keys WHERE id = :id"), {"id": created["id"]})
        ).scalar_one()
    assert affected == created["id"]
    assert stored_hash != created["secret"]
    assert await api.login(created["id"], created["secret"])  # the key works


async def test_the_keys_event_owes_the_webhook_a_delivery_enqueued_after_the_statement(
    api: Api, receiver: Receiver, settings: Settings
) -> None:
    admin = await api.key("acme", Role.ADMIN)
    (await api.gql(SET_WEBHOOK, {"input": webhook_input(receiver.url)}, token=admin.jwt)).ok()
    created = (await api.gql(CREATE_KEY, token=admin.jwt)).ok()["apiKeyCreate"]
    async with api.db.transaction() as session:
        [delivery_id] = (
            await session.execute(
                text(
                    "SELECT d.id FROM webhook_deliveries d JOIN audit_events e ON e.id = d.event_id"
                    " WHERE e.action = 'api_key.create' AND e.affected_resource_id = :key_id"
                ),
                {"key_id": created["id"]},
            )
        ).scalars()
    redis = Redis.from_url(settings.redis_url or "")
    try:
        assert await redis.exists(job_key_prefix + delivery_job_id(str(delivery_id)))
    finally:
        await redis.aclose()


async def test_a_failing_event_insert_leaves_no_key(api: Api) -> None:
    admin = await api.key("acme", Role.ADMIN)
    keys_before, events_before = await key_count(api.db), await event_count(api.db)
    await execute(
        api.db,
        "CREATE FUNCTION refuse_event() RETURNS trigger LANGUAGE plpgsql AS"
        " $$ BEGIN RAISE EXCEPTION 'events refused by the test'; END $$",
    )
    await execute(
        api.db, "CREATE TRIGGER refuse_event BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION refuse_event()"
    )
    try:
        refused = await api.gql(CREATE_KEY, token=admin.jwt)
    finally:
        await execute(api.db, "DROP TRIGGER refuse_event ON audit_events")
        await execute(api.db, "DROP FUNCTION refuse_event()")
    assert refused.status_code == 200 and refused.errors and refused.data is None
    assert "secret" not in str(refused.errors).lower()
    assert await key_count(api.db) == keys_before
    assert await event_count(api.db) == events_before


async def test_a_reader_creates_no_key_and_sends_no_statement(
    api: Api, statements_sent: list[tuple[str, bool]]
) -> None:
    reader = await api.key("acme", Role.READER)
    keys_before = await key_count(api.db)
    statements_sent.clear()
    refused = await api.gql(CREATE_KEY, token=reader.jwt)
    assert refused.codes == ["FORBIDDEN"]
    assert statements_sent == []
    assert await key_count(api.db) == keys_before


async def test_a_key_revoked_before_the_request_creates_nothing(api: Api) -> None:
    admin = await api.key("acme", Role.ADMIN)
    other_admin = await api.key("acme", Role.ADMIN)
    (await api.gql(f'mutation {{ apiKeyDelete(id: "{admin.id}") {{ id }} }}', token=other_admin.jwt)).ok()
    keys_before = await key_count(api.db)
    refused = await api.gql(CREATE_KEY, token=admin.jwt)
    assert refused.codes == ["UNAUTHENTICATED"]
    assert await key_count(api.db) == keys_before


async def test_a_killed_connection_answers_service_unavailable_then_the_next_request_succeeds(api: Api) -> None:
    """The statement goes through SQLAlchemy's execution, so a connection PostgreSQL ended under it is
    invalidated and answered SERVICE_UNAVAILABLE (never INTERNAL_SERVER_ERROR), and nothing is half-written."""
    admin = await api.key("acme", Role.ADMIN)
    (await api.gql(CREATE_KEY, token=admin.jwt)).ok()  # the app now pools the connection that ran the statement
    async with api.db.transaction() as session:
        ended = (
            await session.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid, 10000)) FROM pg_stat_activity"
                    " WHERE query LIKE 'WITH change AS (INSERT INTO api_keys%' AND pid <> pg_backend_pid()"
                )
            )
        ).scalar_one()
    assert ended >= 1
    keys_before, events_before = await key_count(api.db), await event_count(api.db)
    on_the_dead_connection = await api.gql(CREATE_KEY, token=admin.jwt)
    assert on_the_dead_connection.codes == ["SERVICE_UNAVAILABLE"]
    assert await key_count(api.db) == keys_before and await event_count(api.db) == events_before
    (await api.gql(CREATE_KEY, token=admin.jwt)).ok()
    assert await key_count(api.db) == keys_before + 1 and await event_count(api.db) == events_before + 1


async def test_a_change_may_not_reuse_the_events_parameter_names(db: Database) -> None:
    principal = Principal(account_id="01ARZ3NDEKTSV4RRFFQ69G5FAV", account_name="acme", actor="test::x", key_id=None)
    draft = EventDraft(action="test.clash", actor=principal.actor, timestamp_ms=0, event_type=EventType.UPDATE)
    clashing = ChangeStatement("UPDATE accounts SET name = name WHERE id = :account_id", {"account_id": "other"})
    recording = Recording(account_id=principal.account_id, account_name="acme", recorded_by=None)
    async with db.statement() as connection:
        with pytest.raises(ValueError, match="must not be named as the events'"):
            await record_events_with(connection, clashing, [draft], recording)
