"""recordedAt: when the service recorded an event, beside the time an ingested event claims; searchable."""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import text

from api.models import Role
from tests.helpers import Api, Key
from tests.test_audit_support import ago, draft, predicate, seed

RECORD = (
    "mutation($events: [AuditTrailEventInput!]!) { auditTrailRecordEvents(events: $events) {"
    " id body timestamp recordedAt recordedBy } }"
)
SEARCH = (
    "query($input: SearchInput!) { searchAuditTrailEntries(input: $input) {"
    " edges { node { id action timestamp recordedAt } } } }"
)
SUGGEST = (
    "query($input: SearchSuggestionsInput!) { searchAuditTrailEntriesSuggestions(input: $input) {"
    " filteredCount fields { name type } } }"
)
DAY_MS = 86_400_000


def event(**overrides: Any) -> dict[str, Any]:
    return {"action": "stack.create", "actor": "github::alice", "eventType": "CREATE", **overrides}


async def search_actions(api: Api, key: Key, *predicates: dict[str, Any]) -> list[str]:
    result = await api.gql(SEARCH, {"input": {"predicates": list(predicates)}}, token=key.jwt)
    return [edge["node"]["action"] for edge in result.ok()["searchAuditTrailEntries"]["edges"]]


async def test_a_back_dated_event_shows_when_it_was_recorded_in_the_entry_the_body_and_the_row(api: Api) -> None:
    service = await api.key("acme", Role.SERVICE)
    claimed = int(time.time() * 1000) - 3 * DAY_MS
    before = int(time.time() * 1000)

    [entry] = (await api.gql(RECORD, {"events": [event(timestamp=claimed)]}, token=service.jwt)).ok()[
        "auditTrailRecordEvents"
    ]

    after = int(time.time() * 1000)
    assert entry["timestamp"] == claimed
    assert before <= entry["recordedAt"] <= after
    body = json.loads(entry["body"])
    assert (body["timestamp"], body["context"]["recordedAt"]) == (claimed, entry["recordedAt"])
    assert body["context"]["recordedBy"] == f"api::{service.id}"
    async with api.db.transaction() as session:
        stored = await session.execute(
            text("SELECT (extract(epoch FROM recorded_at) * 1000)::bigint FROM audit_events WHERE id = :id"),
            {"id": entry["id"]},
        )
        assert stored.scalar_one() == entry["recordedAt"]


async def test_the_services_own_events_are_recorded_when_they_happen(api: Api) -> None:
    reader = await api.key("acme", Role.READER)
    logins = {"predicates": [predicate("action", stringMatches=["account.login"])]}
    [login] = (await api.gql(SEARCH, {"input": logins}, token=reader.jwt)).ok()["searchAuditTrailEntries"]["edges"]
    # Recorded by the service's clock at write time: the event's own moment, or an instant after it.
    assert 0 <= login["node"]["recordedAt"] - login["node"]["timestamp"] < 60_000


async def test_recorded_at_finds_back_dated_events_that_created_at_does_not(api: Api) -> None:
    service = await api.key("acme", Role.SERVICE)
    reader = await api.key("acme", Role.READER)
    events = [event(action="stack.backdated", timestamp=int(time.time() * 1000) - 3 * DAY_MS)]
    (await api.gql(RECORD, {"events": events}, token=service.jwt)).ok()
    last_hour = {"number": 1, "unit": "HOURS"}
    three_days_ago = int(time.time()) - 3 * 86_400

    recently_recorded = await search_actions(api, reader, predicate("recordedAt", timeInLast=last_hour))
    recently_created = await search_actions(api, reader, predicate("createdAt", timeInLast=last_hour))
    recorded_long_ago = await search_actions(
        api, reader, predicate("recordedAt", timeInRange={"start": three_days_ago - 60, "end": three_days_ago + 60})
    )
    excluded = await search_actions(api, reader, predicate("recordedAt", exclude=True, timeInLast=last_hour))

    assert "stack.backdated" in recently_recorded
    assert "stack.backdated" not in recently_created
    assert recorded_long_ago == [] and excluded == []


async def test_rows_older_than_the_recording_time_are_searched_by_their_creation_time(api: Api) -> None:
    reader = await api.key("acme", Role.READER)
    [legacy] = await seed(api.db, reader.account_id, [draft("stack.legacy", at=ago(days=2))])
    async with api.db.transaction() as session:
        # As migration 0005 left the rows written before it.
        await session.execute(text("UPDATE audit_events SET recorded_at = NULL WHERE id = :id"), {"id": legacy})
    two_days_ago = int(ago(days=2).timestamp())

    found = await search_actions(
        api, reader, predicate("recordedAt", timeInRange={"start": two_days_ago - 60, "end": two_days_ago + 60})
    )
    recent = await search_actions(api, reader, predicate("recordedAt", timeInLast={"number": 1, "unit": "DAYS"}))
    shown = (await api.gql(SEARCH, {"input": {"predicates": []}}, token=reader.jwt)).ok()
    [entry] = [e["node"] for e in shown["searchAuditTrailEntries"]["edges"] if e["node"]["id"] == legacy]

    assert found == ["stack.legacy"]
    assert "stack.legacy" not in recent
    assert entry["recordedAt"] == entry["timestamp"]


async def test_suggestions_count_under_a_recorded_at_range_and_list_the_field(api: Api) -> None:
    service = await api.key("acme", Role.SERVICE)
    reader = await api.key("acme", Role.READER)
    events = [event(action=f"stack.e{n}", timestamp=int(time.time() * 1000) - 2 * DAY_MS) for n in range(3)]
    (await api.gql(RECORD, {"events": events}, token=service.jwt)).ok()
    days_back = {"start": int(time.time()) - 3 * 86_400, "end": int(time.time()) - 86_400}

    by_created = await api.gql(
        SUGGEST, {"input": {"predicates": [predicate("createdAt", timeInRange=days_back)]}}, token=reader.jwt
    )
    by_recorded = await api.gql(
        SUGGEST, {"input": {"predicates": [predicate("recordedAt", timeInRange=days_back)]}}, token=reader.jwt
    )

    assert by_created.ok()["searchAuditTrailEntriesSuggestions"]["filteredCount"] == 3
    suggestions = by_recorded.ok()["searchAuditTrailEntriesSuggestions"]
    assert suggestions["filteredCount"] == 0
    assert {"name": "recordedAt", "type": "TIME"} in suggestions["fields"]


async def test_a_recorded_at_predicate_needs_a_time_constraint(api: Api) -> None:
    reader = await api.key("acme", Role.READER)
    wrong = await api.gql(
        SEARCH, {"input": {"predicates": [predicate("recordedAt", stringMatches=["yesterday"])]}}, token=reader.jwt
    )
    empty = await api.gql(
        SEARCH, {"input": {"predicates": [predicate("recordedAt", timeInRange={})]}}, token=reader.jwt
    )

    assert wrong.codes == empty.codes == ["BAD_USER_INPUT"]
    assert "field 'recordedAt' takes timeInRange or timeInLast, not stringMatches" in wrong.errors[0]["message"]
    assert "timeInRange needs a start, an end or both" in empty.errors[0]["message"]
