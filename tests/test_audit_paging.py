"""Keyset pagination stays exact while events arrive; suggestions count values under the other filters."""

from __future__ import annotations

import asyncio
import random
import re
from datetime import timedelta

from asyncpg.connection import LoggedQuery
from sqlalchemy import event
from sqlalchemy.engine import Engine

from api.audit.partition_span import DAILY_PARTITIONS
from api.audit.query import Filters
from api.audit.search import PageRequest, search_events, suggest_values
from api.audit.search_raw import search_events_on, suggest_values_on
from api.models import EventType, Role
from tests.helpers import Api
from tests.receivers import SET_WEBHOOK, Receiver, webhook_input
from tests.test_audit_support import SEARCH, ago, draft, predicate, seed

DELIVERY_PAGE = "{ auditTrailWebhook { deliveries(first: 3) { edges { node { id } } } } }"
SUGGEST = (
    "query($input: SearchSuggestionsInput!) { searchAuditTrailEntriesSuggestions(input: $input) {"
    " filteredCount fields { name type orderable possibleValuesString { values counts }"
    " possibleValuesEnum { values counts } possibleValuesBoolean { values counts } } } }"
)


async def test_paging_over_1000_events_returns_each_exactly_once_while_events_arrive(api: Api) -> None:
    reader = await api.key("acme", Role.READER)
    start = ago(hours=2)
    # Three events share each millisecond, so the id breaks ties inside the order.
    drafts = [draft(f"load.e{i}", at=start + timedelta(milliseconds=i // 3)) for i in range(1000)]
    seeded = set(await seed(api.db, reader.account_id, drafts))
    stop = asyncio.Event()
    rng = random.Random(7)
    inserted_batches = 0

    async def keep_inserting() -> None:
        # New events land both before the first page (now) and inside the range being paged.
        nonlocal inserted_batches
        while not stop.is_set():
            inside = start + timedelta(milliseconds=rng.randrange(0, 334))
            await seed(api.db, reader.account_id, [draft("load.new", at=ago(seconds=1)), draft("load.old", at=inside)])
            inserted_batches += 1

    async def an_insert_after(batches: int) -> None:
        while inserted_batches <= batches:
            await asyncio.sleep(0.005)

    inserter = asyncio.create_task(keep_inserting())
    seen: list[str] = []
    after = None
    pages = 0
    try:
        while True:
            page_input = {"first": 97, "after": after, "predicates": [predicate("action", stringMatches=["load.*"])]}
            page = (await api.gql(SEARCH, {"input": page_input}, token=reader.jwt)).ok()["searchAuditTrailEntries"]
            seen.extend(edge["node"]["id"] for edge in page["edges"])
            assert page["pageInfo"]["hasPreviousPage"] is (after is not None)
            pages += 1
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
            assert after == page["edges"][-1]["cursor"]
            # Events arrive between every two pages, however fast pages are served (they once outran the inserts).
            await asyncio.wait_for(an_insert_after(inserted_batches), timeout=30)
    finally:
        stop.set()
        await inserter
    assert len(seen) == len(set(seen)), "an entry was returned twice"
    assert seeded <= set(seen), f"{len(seeded - set(seen))} seeded entries were skipped"
    assert pages >= 11 and inserted_batches >= pages - 1


async def test_suggestions_count_values_under_the_other_filters(api: Api) -> None:
    reader = await api.key("acme", Role.READER)
    await seed(
        api.db,
        reader.account_id,
        [
            draft("stack.create", "github::alice"),
            draft("stack.create", "github::bob"),
            draft("stack.delete", "github::alice", event_type=EventType.DELETE),
            draft("policy.attach", "gitlab::carol"),
            draft("run.finished", "github::alice", event_type=EventType.UPDATE, run_state_change=True),
        ],
    )
    only_github = {
        "fields": ["action", "actor", "eventType", "runStateChange", "createdAt"],
        "predicates": [
            predicate("actorSource", stringMatches=["github"]),
            predicate("action", stringMatches=["stack.create"]),
        ],
    }
    result = (await api.gql(SUGGEST, {"input": only_github}, token=reader.jwt)).ok()
    suggestions = result["searchAuditTrailEntriesSuggestions"]
    fields = {f["name"]: f for f in suggestions["fields"]}

    assert suggestions["filteredCount"] == 2
    # action's own predicate is left out of its counts: the sidebar shows the alternatives too.
    assert fields["action"]["possibleValuesString"] == {
        "values": ["stack.create", "run.finished", "stack.delete"],
        "counts": [2, 1, 1],
    }
    assert fields["actor"]["possibleValuesString"] == {"values": ["github::alice", "github::bob"], "counts": [1, 1]}
    assert fields["eventType"]["possibleValuesEnum"] == {"values": ["CREATE"], "counts": [2]}
    assert fields["runStateChange"]["type"] == "BOOLEAN"
    assert fields["runStateChange"]["possibleValuesBoolean"] == {"values": [False], "counts": [2]}
    assert fields["eventType"]["type"] == "ENUM" and fields["eventType"]["possibleValuesString"] is None
    assert fields["createdAt"] == {
        "name": "createdAt",
        "type": "TIME",
        "orderable": True,
        "possibleValuesString": None,
        "possibleValuesEnum": None,
        "possibleValuesBoolean": None,
    }

    one_field = {"field": "actorSource", "fullTextSearch": "stack"}
    single = (await api.gql(SUGGEST, {"input": one_field}, token=reader.jwt)).ok()
    [actor_source] = single["searchAuditTrailEntriesSuggestions"]["fields"]
    assert actor_source["possibleValuesString"] == {"values": ["github"], "counts": [3]}
    unknown = await api.gql(SUGGEST, {"input": {"field": "colour"}}, token=reader.jwt)
    assert unknown.codes == ["BAD_USER_INPUT"]


async def test_the_whole_sidebar_is_one_statement(api: Api) -> None:
    """Every field's values and the total come back in one round trip, not 1 + N sequential ones, on the
    session path and on the asyncpg path the API runs."""
    reader = await api.key("acme", Role.READER)
    await seed(
        api.db, reader.account_id, [draft("stack.create", "github::alice"), draft("stack.delete", "gitlab::bob")]
    )
    result = (await api.gql(SUGGEST, {"input": {}}, token=reader.jwt)).ok()
    fields = {f["name"]: f for f in result["searchAuditTrailEntriesSuggestions"]["fields"]}
    sources = fields["actorSource"]["possibleValuesString"]
    # Three events: the two seeded and the key's own creation.
    assert result["searchAuditTrailEntriesSuggestions"]["filteredCount"] == 3
    assert dict(zip(sources["values"], sources["counts"], strict=True)) == {"github": 1, "gitlab": 1, "api": 1}
    assert len(fields) > 5

    statements: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if "audit_events" in statement:
            statements.append(statement)

    event.listen(Engine, "before_cursor_execute", count)
    try:
        async with api.db.transaction() as session:
            await suggest_values(session, reader.account_id, Filters())
    finally:
        event.remove(Engine, "before_cursor_execute", count)
    assert len(statements) == 1, statements

    sent: list[str] = []

    def log(record: LoggedQuery) -> None:
        sent.append(record.query)

    async with api.db.reader() as connection:
        connection.connection.add_query_logger(log)
        try:
            suggestions = await suggest_values_on(connection, reader.account_id, Filters())
        finally:
            connection.connection.remove_query_logger(log)
    await asyncio.sleep(0)  # asyncpg calls its query loggers soon (``call_soon``), not at once
    # One statement reads the trail; around it only the plan setting's BEGIN and COMMIT (api/raw_reads.py).
    assert [query for query in sent if "audit_events" in query] == [sent[1]] and len(sent) == 3, sent
    assert suggestions.filtered_count == 3 and len(suggestions.fields) == len(fields)


async def test_a_pages_limit_reaches_postgresql_in_the_statement_text(api: Api, receiver: Receiver) -> None:
    """A LIMIT sent as a parameter gets a generic plan costed for a tenth of the rows, several times
    slower on the daily partitions; each page size must be its own statement (``planned_limit``)."""
    admin = await api.key("acme", Role.ADMIN)
    (await api.gql(SET_WEBHOOK, {"input": webhook_input(receiver.url)}, token=admin.jwt)).ok()
    on_session: list[str] = []

    def keep(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        on_session.append(statement)

    event.listen(Engine, "before_cursor_execute", keep)
    try:
        async with api.db.transaction() as session:
            await search_events(session, admin.account_id, Filters(), PageRequest(first=7))
        (await api.gql(DELIVERY_PAGE, token=admin.jwt)).ok()
    finally:
        event.remove(Engine, "before_cursor_execute", keep)
    pages = [s for s in on_session if "FROM audit_events" in s or "FROM webhook_deliveries" in s]
    assert any("LIMIT 8" in s and "FROM audit_events" in s for s in pages), pages
    assert any("LIMIT 4" in s and "FROM webhook_deliveries" in s for s in pages), pages
    assert not [s for s in pages if re.search(r"LIMIT \$", s)], pages

    sent: list[str] = []
    async with api.db.reader() as connection:
        # The partitions' span is read again once a minute, on the page's connection: read it first.
        await DAILY_PARTITIONS.span(connection.connection)
        with connection.connection.query_logger(lambda record: sent.append(record.query)):
            await search_events_on(connection, admin.account_id, Filters(), PageRequest(first=7))
    await asyncio.sleep(0)
    assert len(sent) == 1 and re.search(r"LIMIT 8\s*$", sent[0]), sent
