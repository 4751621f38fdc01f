"""The read path on plain asyncpg gives the answers of the SQLAlchemy path, and checks callers as strictly."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import timedelta

import jwt as pyjwt
import pytest

from api.accounts.identity import identity_from_token, identity_on
from api.accounts.tokens import TokenClaims, TokenSigner, VerifiedTokens
from api.audit.query import Constraint, Filters, Predicate, TimeInLast, TimeInRange, TimeUnit
from api.audit.record import record_events
from api.audit.search import PageRequest, get_event, search_events, suggest_values
from api.audit.search_raw import get_event_on, search_events_on, suggest_values_on
from api.db import Database
from api.errors import BadInput, Unauthenticated
from api.graphql.audit.types import AuditTrailEntry
from api.graphql.scalars import JSON
from api.models import EventType, Role
from api.paging import Direction
from tests.conftest import TEST_SECRET_KEY
from tests.helpers import Api, Key
from tests.test_audit_support import ENTRY_FIELDS, ago, draft, seed

SEARCH = (
    "query($input: SearchInput!) { searchAuditTrailEntries(input: $input) {"
    f" edges {{ cursor node {{ {ENTRY_FIELDS} }} }} }} }}"
)
ODD_DATA = {
    "ratio": 0.1,
    "tiny": 1e-300,
    "text": 'quote " backslash \\ ünïcode ✓ \u2028',
    "nested": {"list": [1, None, True, {"k": "v"}]},
}
FILTER_SETS = [
    Filters(),
    Filters(predicates=[Predicate("action", Constraint(string_matches=["stack.*", "policy.attach"]))]),
    Filters(predicates=[Predicate("actor", Constraint(string_matches=["github::alice"]), exclude=True)]),
    Filters(predicates=[Predicate("eventType", Constraint(enum_equals=["DELETE", "UPDATE"]))]),
    Filters(predicates=[Predicate("runStateChange", Constraint(boolean_equals=[True]))]),
    Filters(predicates=[Predicate("createdAt", Constraint(time_in_last=TimeInLast(1, TimeUnit.DAYS)))]),
    Filters(
        predicates=[
            Predicate("recordedAt", Constraint(time_in_range=TimeInRange(start=ago(days=30)))),
            Predicate("remoteIP", Constraint(string_matches=["10.0.0.*"])),
        ]
    ),
    Filters(full_text_search='review "quote'),
]


@pytest.fixture
async def reader(api: Api) -> Key:
    """A READER of acme whose trail holds events with every kind of field, ingested ones included."""
    key = await api.key("acme", Role.READER)
    await seed(
        api.db,
        key.account_id,
        [
            draft("stack.create", "github::alice", at=ago(days=3), affected=("stack", "prod-eu"), remote_ip="10.0.0.1"),
            draft(
                "stack.delete",
                "github::bob",
                at=ago(days=2),
                affected=("stack", "prod-us"),
                related=("space", None),
                event_type=EventType.DELETE,
            ),
            draft("policy.attach", "gitlab::carol", at=ago(hours=5), data={"note": 'Quarterly REVIEW "quote'}),
            draft(
                "run.finished", "spacelift::run", at=ago(hours=2), event_type=EventType.UPDATE, run_state_change=True
            ),
            draft("stack.update", "github::alice", at=ago(minutes=30), remote_ip="10.0.0.2", data=ODD_DATA),
        ],
    )
    async with api.db.transaction() as session:
        ingested = [
            replace(
                draft("module.publish", "ci::deploy", at=ago(minutes=10)),
                external_id="release-1",
                # what ingestion writes into an ingested event's context
                context={"recordedBy": f"api::{key.id}", "externalId": "release-1", "origin": "ci"},
            ),
            draft("module.publish", "ci::deploy"),
        ]
        await record_events(
            session, ingested, account_id=key.account_id, account_name="acme", recorded_by=key.id
        )
    return key


def entries(events: object) -> list[AuditTrailEntry]:
    assert isinstance(events, list)
    return [AuditTrailEntry.from_event(event) for event in events]


async def test_every_filter_finds_the_same_page_on_both_paths(db: Database, reader: Key) -> None:
    now = ago()
    found: list[AuditTrailEntry] = []
    for filters in FILTER_SETS:
        for page in (PageRequest(first=3), PageRequest(first=50, direction=Direction.ASC)):
            async with db.transaction() as session:
                plain = await search_events(session, reader.account_id, filters, page, now=now)
            async with db.reader() as connection:
                fast = await search_events_on(connection, reader.account_id, filters, page, now=now)
            found.extend(entries(list(fast.events)))
            assert entries(list(fast.events)) == entries(list(plain.events)), filters
            assert (fast.cursors, fast.has_next_page, fast.has_previous_page) == (
                plain.cursors,
                plain.has_next_page,
                plain.has_previous_page,
            )
            if plain.end_cursor is not None:  # the next page too, after the same cursor
                after = PageRequest(first=page.first, after=plain.end_cursor, direction=page.direction)
                async with db.transaction() as session:
                    plain_next = await search_events(session, reader.account_id, filters, after, now=now)
                async with db.reader() as connection:
                    fast_next = await search_events_on(connection, reader.account_id, filters, after, now=now)
                assert entries(list(fast_next.events)) == entries(list(plain_next.events))
    assert any(entry.data == JSON(ODD_DATA) for entry in found)
    assert any(entry.external_id == "release-1" and entry.recorded_by == f"api::{reader.id}" for entry in found)


async def test_the_suggestions_are_the_same_on_both_paths(db: Database, reader: Key) -> None:
    now = ago()
    for filters in FILTER_SETS:
        for fields in (None, ["action", "eventType", "runStateChange", "createdAt"]):
            async with db.transaction() as session:
                plain = await suggest_values(session, reader.account_id, filters, fields, now=now)
            async with db.reader() as connection:
                fast = await suggest_values_on(connection, reader.account_id, filters, fields, now=now)
            assert fast == plain


async def test_one_entry_is_the_same_on_both_paths_and_never_another_accounts(
    api: Api, db: Database, reader: Key
) -> None:
    other = await api.key("globex", Role.ADMIN)
    async with db.reader() as connection:
        page = await search_events_on(connection, reader.account_id, Filters(), PageRequest(first=50))
    assert len(page.events) == 8  # the seeded seven and the key's login
    for event in page.events:
        async with db.transaction() as session:
            plain = await get_event(session, reader.account_id, event.id)
        async with db.reader() as connection:
            fast = await get_event_on(connection, reader.account_id, event.id)
            assert await get_event_on(connection, other.account_id, event.id) is None
        assert plain is not None and fast is not None
        assert AuditTrailEntry.from_event(fast) == AuditTrailEntry.from_event(plain)
    async with db.reader() as connection:
        with pytest.raises(BadInput):
            await get_event_on(connection, reader.account_id, "'; DROP TABLE audit_events; --")


async def test_the_answer_over_http_is_the_plain_paths_byte_for_byte(api: Api, db: Database, reader: Key) -> None:
    answer = (await api.gql(SEARCH, {"input": {"first": 50}}, token=reader.jwt)).ok()
    async with db.transaction() as session:
        plain = await search_events(session, reader.account_id, Filters(), PageRequest(first=50))
    nodes = [edge["node"] for edge in answer["searchAuditTrailEntries"]["edges"]]
    assert [node["id"] for node in nodes] == [event.id for event in plain.events]
    by_id = {event.id: event for event in plain.events}
    for node in nodes:
        event = by_id[node["id"]]
        assert node["body"] == event.body and node["data"] == event.data and node["context"] == event.context
    assert any(node["data"] == ODD_DATA for node in nodes)


async def test_the_identity_is_the_same_on_both_paths(api: Api, db: Database) -> None:
    key = await api.key("acme", Role.READER)
    claims = TokenSigner(TEST_SECRET_KEY, 3600).decode(key.jwt, audience="http://audittrail.test")
    async with db.transaction() as session:
        plain = await identity_from_token(session, claims)
    async with db.reader() as connection:
        assert await identity_on(connection, claims) == plain


async def test_each_token_gets_its_own_keys_identity_from_the_statement_compiled_once(api: Api, db: Database) -> None:
    signer = TokenSigner(TEST_SECRET_KEY, 3600)
    keys = [await api.key("acme", Role.READER), await api.key("globex", Role.ADMIN)]
    keys.append(await api.key("acme", Role.SERVICE))
    async with db.reader() as connection:
        for key in [*keys, *reversed(keys)]:
            identity = await identity_on(connection, signer.decode(key.jwt, audience="http://audittrail.test"))
            assert (identity.key_id, identity.account_id, identity.role) == (key.id, key.account_id, key.role)


async def test_a_revoked_key_is_refused_at_once_though_its_token_was_verified_before(api: Api) -> None:
    admin = await api.key("acme", Role.ADMIN)
    reader = await api.key("acme", Role.READER)
    search = "{ searchAuditTrailEntries(input: {first: 1}) { edges { cursor } } }"
    (await api.gql(search, token=reader.jwt)).ok()
    revoked = await api.gql("mutation($id: ID!) { apiKeyDelete(id: $id) { id } }", {"id": reader.id}, token=admin.jwt)
    revoked.ok()
    refused = await api.gql(search, token=reader.jwt)
    assert refused.codes == ["UNAUTHENTICATED"] and "revoked" in refused.errors[0]["message"]
    assert refused.data is None


async def test_a_logged_out_token_is_refused_at_once(api: Api) -> None:
    reader = await api.key("acme", Role.READER)
    (await api.gql("{ viewer { id } }", token=reader.jwt)).ok()
    (await api.gql("mutation { logout { id } }", token=reader.jwt)).ok()
    refused = await api.gql('{ auditTrailEntry(id: "01HZZZZZZZZZZZZZZZZZZZZZZZ") { id } }', token=reader.jwt)
    assert refused.codes == ["UNAUTHENTICATED"] and "logged out" in refused.errors[0]["message"]


async def test_a_token_naming_another_account_is_refused(api: Api, reader: Key) -> None:
    other = await api.key("globex", Role.ADMIN)
    claims = dict(pyjwt.decode(reader.jwt, TEST_SECRET_KEY, algorithms=["HS256"], options={"verify_aud": False}))
    forged = pyjwt.encode({**claims, "acc": other.account_id}, TEST_SECRET_KEY, algorithm="HS256")
    refused = await api.gql("{ searchAuditTrailEntries(input: {first: 50}) { edges { cursor } } }", token=forged)
    assert refused.codes == ["UNAUTHENTICATED"] and refused.data is None
    # and the other account's own key reads none of acme's entries
    theirs = await api.gql("{ searchAuditTrailEntries(input: {first: 50}) { edges { node { id } } } }", token=other.jwt)
    async with api.db.reader() as connection:
        mine = await search_events_on(connection, reader.account_id, Filters(), PageRequest(first=50))
    found = {edge["node"]["id"] for edge in theirs.ok()["searchAuditTrailEntries"]["edges"]}
    assert len(mine.events) == 8 and found.isdisjoint(event.id for event in mine.events)


async def test_the_least_roles_are_refused_where_they_were(api: Api, reader: Key) -> None:
    service = await api.key("acme", Role.SERVICE)
    for query in (
        "{ searchAuditTrailEntries(input: {first: 1}) { edges { cursor } } }",
        '{ searchAuditTrailEntriesSuggestions(input: {field: "action"}) { filteredCount } }',
        '{ auditTrailEntry(id: "01HZZZZZZZZZZZZZZZZZZZZZZZ") { id } }',
    ):
        refused = await api.gql(query, token=service.jwt)
        assert refused.codes == ["FORBIDDEN"], query
        (await api.gql(query, token=reader.jwt)).ok()
    assert (await api.gql("{ apiKeys { id } }", token=reader.jwt)).codes == ["FORBIDDEN"]


def test_verified_claims_expire_when_their_token_does() -> None:
    verified = VerifiedTokens(maxsize=2)
    now = time.time()
    claims = TokenClaims(key_id="k", account_id="a", token_id="t", valid_until=int(now) + 5)
    verified.put("token", "http://a", claims)
    assert verified.get("token", "http://a", now=now) == claims
    assert verified.get("token", "http://b", now=now) is None
    with pytest.raises(Unauthenticated, match="expired"):
        verified.get("token", "http://a", now=now + 5)
    assert len(verified) == 0
    for name in ("one", "two", "three"):
        verified.put(name, "http://a", claims)
    assert len(verified) == 2 and verified.get("one", "http://a", now=now) is None


def test_a_token_verified_at_one_address_is_checked_again_at_another() -> None:
    signer = TokenSigner(TEST_SECRET_KEY, 3600)
    issued = pyjwt.encode(
        {
            "sub": "k",
            "acc": "a",
            "iss": "audittrail",
            "aud": "http://one",
            "jti": "j",
            "exp": int(time.time() + timedelta(hours=1).total_seconds()),
        },
        TEST_SECRET_KEY,
        algorithm="HS256",
    )
    assert signer.decode(issued, audience="http://one").key_id == "k"
    with pytest.raises(Unauthenticated, match="another address"):
        signer.decode(issued, audience="http://two")
    tampered = issued[:-2] + ("AA" if not issued.endswith("AA") else "BB")
    with pytest.raises(Unauthenticated, match="invalid token"):
        signer.decode(tampered, audience="http://one")
