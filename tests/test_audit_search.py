"""searchAuditTrailEntries: every predicate kind, exclude, full text, ordering, errors, and one entry."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from api.models import EventType, Role
from tests.helpers import Api, Key
from tests.test_audit_support import ENTRY_FIELDS, SEARCH, ago, draft, ms, predicate, seed

REVIEW = {"note": "Quarterly REVIEW"}


async def search(api: Api, key: Key, **search_input: Any) -> list[str]:
    """The actions of the entries found, in order."""
    result = await api.gql(SEARCH, {"input": search_input}, token=key.jwt)
    return [edge["node"]["action"] for edge in result.ok()["searchAuditTrailEntries"]["edges"]]


@pytest.fixture
async def reader(api: Api) -> Key:
    """A READER of acme, whose trail holds six distinct events (its own login aside)."""
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
                related=("space", "root"),
                event_type=EventType.DELETE,
            ),
            draft("policy.attach", "gitlab::carol", at=ago(hours=5), affected=("policy", "deny-all"), data=REVIEW),
            draft(
                "run.finished", "spacelift::run", at=ago(hours=2), event_type=EventType.UPDATE, run_state_change=True
            ),
            draft(
                "stack.update", "github::alice", at=ago(minutes=30), affected=("stack", "prod-eu"), remote_ip="10.0.0.2"
            ),
            draft("module_version.publish", "github::dave", at=ago(minutes=10), related=("space", "root")),
        ],
    )
    return key


async def test_string_matches_exact_values_and_wildcards(api: Api, reader: Key) -> None:
    assert await search(api, reader, predicates=[predicate("actor", stringMatches=["github::alice"])]) == [
        "stack.update",
        "stack.create",
    ]
    assert await search(api, reader, predicates=[predicate("action", stringMatches=["stack.*"])]) == [
        "stack.update",
        "stack.delete",
        "stack.create",
    ]
    either = [predicate("affectedResourceId", stringMatches=["prod-us", "*-all"])]
    assert await search(api, reader, predicates=either) == ["policy.attach", "stack.delete"]
    # '_' and '%' are literal characters, not LIKE wildcards.
    assert await search(api, reader, predicates=[predicate("action", stringMatches=["module%"])]) == []
    assert await search(api, reader, predicates=[predicate("action", stringMatches=["module_*"])]) == [
        "module_version.publish"
    ]


async def test_predicates_on_every_filterable_string_field(api: Api, reader: Key) -> None:
    cases = {
        "actorSource": (["gitlab"], ["policy.attach"]),
        "affectedResourceType": (["policy"], ["policy.attach"]),
        "relatedResourceType": (["space"], ["module_version.publish", "stack.delete"]),
        "relatedResourceId": (["root"], ["module_version.publish", "stack.delete"]),
        "remoteIP": (["10.0.0.*"], ["stack.update", "stack.create"]),
    }
    for field, (values, expected) in cases.items():
        assert await search(api, reader, predicates=[predicate(field, stringMatches=values)]) == expected, field


async def test_enum_equals_on_event_type(api: Api, reader: Key) -> None:
    deletes = [predicate("eventType", enumEquals=["DELETE"])]
    assert await search(api, reader, predicates=deletes) == ["stack.delete"]
    bad_enum = {"predicates": [predicate("eventType", enumEquals=["RUN_STATE_CHANGE"])]}
    unknown = await api.gql(SEARCH, {"input": bad_enum}, token=reader.jwt)
    assert unknown.codes == ["BAD_USER_INPUT"]
    assert "CREATE, UPDATE, DELETE" in unknown.errors[0]["message"]


async def test_boolean_equals_on_run_state_change(api: Api, reader: Key) -> None:
    runs = [predicate("runStateChange", booleanEquals=[True])]
    assert await search(api, reader, predicates=runs) == ["run.finished"]
    not_runs = [
        predicate("runStateChange", True, booleanEquals=[True]),
        predicate("actorSource", True, stringMatches=["api"]),
    ]
    assert "run.finished" not in await search(api, reader, predicates=not_runs)
    wrong_kind = {"predicates": [predicate("runStateChange", stringMatches=["true"])]}
    refused = await api.gql(SEARCH, {"input": wrong_kind}, token=reader.jwt)
    assert refused.codes == ["BAD_USER_INPUT"]
    assert refused.errors[0]["message"] == "field 'runStateChange' takes booleanEquals, not stringMatches"


async def test_time_in_range_and_time_in_last(api: Api, reader: Key) -> None:
    window = {"start": int(ago(days=2, hours=1).timestamp()), "end": int(ago(hours=1).timestamp())}
    assert await search(api, reader, predicates=[predicate("createdAt", timeInRange=window)]) == [
        "run.finished",
        "policy.attach",
        "stack.delete",
    ]
    open_ended = {"start": int(ago(hours=3).timestamp())}
    in_last = {"number": 3, "unit": "HOURS"}
    expected_recent = ["module_version.publish", "stack.update", "run.finished"]
    recent = [predicate("createdAt", timeInLast=in_last), predicate("actor", True, stringMatches=["api::*"])]
    assert await search(api, reader, predicates=recent) == expected_recent
    ranged = [predicate("createdAt", timeInRange=open_ended), predicate("actor", True, stringMatches=["api::*"])]
    assert await search(api, reader, predicates=ranged) == expected_recent


async def test_exclude_negates_a_predicate_and_keeps_entries_without_the_field(api: Api, reader: Key) -> None:
    not_stacks = [
        predicate("affectedResourceType", True, stringMatches=["stack"]),
        predicate("actorSource", True, stringMatches=["api"]),
    ]
    assert await search(api, reader, predicates=not_stacks) == [
        "module_version.publish",
        "run.finished",
        "policy.attach",
    ]


async def test_boolean_equals_is_refused_with_what_each_field_takes(api: Api, reader: Key) -> None:
    result = await api.gql(
        SEARCH, {"input": {"predicates": [predicate("action", booleanEquals=[True])]}}, token=reader.jwt
    )
    assert result.codes == ["BAD_USER_INPUT"]
    assert result.errors[0]["message"] == "field 'action' takes stringMatches, not booleanEquals"


async def test_full_text_search_covers_action_actor_resource_ids_and_data(api: Api, reader: Key) -> None:
    assert await search(api, reader, fullTextSearch="quarterly review") == ["policy.attach"]
    assert await search(api, reader, fullTextSearch="PROD-EU") == ["stack.update", "stack.create"]
    assert await search(api, reader, fullTextSearch="bob") == ["stack.delete"]
    assert await search(api, reader, fullTextSearch="publish root") == ["module_version.publish"]
    assert await search(api, reader, fullTextSearch="100%") == []


async def test_order_by_created_at_ascending(api: Api, reader: Key) -> None:
    found = await search(
        api,
        reader,
        predicates=[predicate("actorSource", True, stringMatches=["api"])],
        orderBy={"field": "createdAt", "direction": "ASC"},
    )
    assert found == [
        "stack.create",
        "stack.delete",
        "policy.attach",
        "run.finished",
        "stack.update",
        "module_version.publish",
    ]


@pytest.mark.parametrize(
    ("search_input", "message"),
    [
        (
            {"predicates": [predicate("colour", stringMatches=["red"])]},
            "unknown field 'colour'; filterable fields are: action",
        ),
        ({"after": "not-a-cursor"}, "after must be the endCursor"),
        ({"first": 501}, "first must be between 1 and 500, got 501"),
        ({"first": 0}, "first must be between 1 and 500, got 0"),
        ({"predicates": [predicate("createdAt", timeInRange={"start": 200, "end": 100})]}, "must not be after its end"),
        ({"predicates": [predicate("createdAt", timeInRange={})]}, "timeInRange needs a start, an end or both"),
        ({"predicates": [predicate("action", stringMatches=["a"], enumEquals=["b"])]}, "exactly one constraint"),
        ({"predicates": [predicate("createdAt", stringMatches=["x"])]}, "takes timeInRange or timeInLast"),
        ({"predicates": [predicate("createdAt", timeInLast={"number": 0, "unit": "DAYS"})]}, "between 1 and"),
        ({"orderBy": {"field": "action", "direction": "ASC"}}, "orderBy field must be one of createdAt"),
    ],
)
async def test_bad_search_input_says_what_is_allowed(api: Api, search_input: dict[str, Any], message: str) -> None:
    reader = await api.key("acme", Role.READER)
    result = await api.gql(SEARCH, {"input": search_input}, token=reader.jwt)
    assert result.codes == ["BAD_USER_INPUT"]
    assert message in result.errors[0]["message"]


async def test_a_cursor_of_one_direction_is_refused_in_the_other(api: Api, reader: Key) -> None:
    first = await api.gql(SEARCH, {"input": {"first": 1}}, token=reader.jwt)
    cursor = first.ok()["searchAuditTrailEntries"]["pageInfo"]["endCursor"]
    result = await api.gql(
        SEARCH, {"input": {"after": cursor, "orderBy": {"field": "createdAt", "direction": "ASC"}}}, token=reader.jwt
    )
    assert result.codes == ["BAD_USER_INPUT"]
    assert "same orderBy direction" in result.errors[0]["message"]


async def test_entry_by_id_has_everything(api: Api) -> None:
    reader = await api.key("acme", Role.READER)
    at = ago(hours=1)
    [event_id] = await seed(
        api.db,
        reader.account_id,
        [
            draft(
                "run.started",
                "spacelift::scheduler",
                at=at,
                event_type=EventType.UPDATE,
                run_state_change=True,
                data={"k": 1},
            )
        ],
    )
    result = await api.gql(
        "query($id: ID!) { auditTrailEntry(id: $id) {" + ENTRY_FIELDS + "} }", {"id": event_id}, token=reader.jwt
    )
    entry = result.ok()["auditTrailEntry"]
    assert entry["id"] == event_id
    assert (entry["eventType"], entry["runStateChange"]) == ("UPDATE", True)
    assert entry["actor"] == {
        "username": "spacelift::scheduler",
        "source": "spacelift",
        "identity": "scheduler",
        "run": {"id": "run-1", "stackId": "stack-1"},
    }
    assert entry["data"] == {"k": 1} and entry["context"] == {}
    assert entry["timestamp"] == ms(at) and entry["createdAt"] == ms(at) // 1000
    assert '"action":"run.started"' in entry["body"]
    missing = await api.gql('{ auditTrailEntry(id: "01ARZ3NDEKTSV4RRFFQ69G5FAV") { id } }', token=reader.jwt)
    malformed = await api.gql('{ auditTrailEntry(id: "nope") { id } }', token=reader.jwt)
    assert missing.ok()["auditTrailEntry"] is None
    assert malformed.codes == ["BAD_USER_INPUT"]


async def test_an_integer_beyond_64_bits_in_stored_data_is_still_answered(api: Api) -> None:
    """Answers are encoded with orjson, which refuses such integers; a row written by hand (or by an
    older version) holding one must still come back whole, not as an internal error."""
    reader = await api.key("acme", Role.READER)
    [event_id] = await seed(api.db, reader.account_id, [draft("stack.create", data={"k": 1})])
    huge = 2**70
    async with api.db.transaction() as session:
        await session.execute(
            text("UPDATE audit_events SET data = CAST(:data AS jsonb) WHERE id = :id"),
            {"data": f'{{"k": {huge}}}', "id": event_id},
        )
    result = await api.gql("query($id: ID!) { auditTrailEntry(id: $id) { data } }", {"id": event_id}, token=reader.jwt)
    assert result.ok()["auditTrailEntry"]["data"] == {"k": huge}


async def test_full_text_search_finds_values_with_quotes_and_backslashes_as_given(api: Api) -> None:
    reader = await api.key("acme", Role.READER)
    await seed(
        api.db,
        reader.account_id,
        [
            draft("file.write", "github::alice", data={"path": "C:\\temp\\report.txt"}),
            draft("comment.add", "github::bob", data={"text": 'he said "ship it"'}),
            draft("other.thing", "github::carol", data={"text": "nothing to see"}),
        ],
    )
    assert await search(api, reader, fullTextSearch="C:\\temp\\report") == ["file.write"]
    assert await search(api, reader, fullTextSearch='"ship') == ["comment.add"]
    assert await search(api, reader, fullTextSearch='it"') == ["comment.add"]
