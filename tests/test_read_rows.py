"""Reads build entries from plain Core rows, not ORM instances: every field of every entry must be
what the ORM model gives for the same stored event (a column left out or decoded differently shows)."""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import col

from api.audit.query import Filters
from api.audit.search import PageRequest, get_event, search_events
from api.db import Database
from api.graphql.audit.types import AuditTrailEntry
from api.models import AuditEvent, EventType
from tests.helpers import Api
from tests.test_audit_support import ago, draft, seed


async def orm_entries(db: Database, account_id: str) -> list[AuditTrailEntry]:
    """The account's entries built from ORM instances, newest first (the search's order)."""
    async with db.transaction() as session:
        statement = (
            select(AuditEvent)
            .where(col(AuditEvent.account_id) == account_id)
            .order_by(col(AuditEvent.created_at).desc(), col(AuditEvent.id).desc())
        )
        return [AuditTrailEntry.from_event(event) for event in (await session.execute(statement)).scalars()]


async def test_search_and_get_give_the_entries_the_orm_model_gives(api: Api, db: Database) -> None:
    key = await api.key("acme")
    await seed(
        db,
        key.account_id,
        [
            draft("stack.create", "github::alice", at=ago(days=2), affected=("stack", "prod"), remote_ip="10.0.0.1"),
            draft("stack.delete", "gitlab::bob", at=ago(hours=3), related=("space", None), event_type=EventType.DELETE),
            draft(
                "run.finished",
                "spacelift::run",
                at=ago(minutes=5),
                run_state_change=True,
                data={"nested": {"list": [1, 2.5, None, "é"]}, "flag": True},
            ),
        ],
    )
    expected = await orm_entries(db, key.account_id)
    async with db.transaction() as session:
        page = await search_events(session, key.account_id, Filters(), PageRequest(first=50))
        single = [await get_event(session, key.account_id, str(entry.id)) for entry in expected]
    assert [AuditTrailEntry.from_event(event) for event in page.events] == expected
    assert [AuditTrailEntry.from_event(event) for event in single if event is not None] == expected
    assert len(expected) == 4  # the three seeded and the key's own login
