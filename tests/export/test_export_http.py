"""``/export``: the same rows as the search, the stored bodies byte for byte, CSV that is safe to open,
and nobody but the account's ADMIN and READER keys."""

from __future__ import annotations

import urllib.parse
from typing import Any

import httpx
import orjson
import pytest

from api.export import CSV_COLUMNS
from api.models import Role
from tests.export.conftest import BATCH_SIZE
from tests.export.support import csv_records, search_all, seed_many
from tests.helpers import Api, Key
from tests.test_audit_support import ago, draft, predicate, seed

EVENTS = 2_500  # more than eight batches of BATCH_SIZE


async def export(
    api: Api, key: Key | None, search_input: dict[str, Any] | None = None, **params: str
) -> httpx.Response:
    query = dict(params)
    if search_input is not None:
        query["input"] = orjson.dumps(search_input).decode()
    headers = {"Authorization": f"Bearer {key.jwt}"} if key else {}
    return await api.client.get(f"/export?{urllib.parse.urlencode(query)}", headers=headers)


@pytest.fixture
async def reader(api: Api) -> Key:
    key = await api.key("acme", Role.READER)
    await seed_many(api, key.account_id, EVENTS)
    return key


async def test_ndjson_export_is_the_search_results_bodies_in_order(api: Api, reader: Key) -> None:
    expected = await search_all(api, reader, {})
    response = await export(api, reader)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/x-ndjson"
    lines = response.content.split(b"\n")
    assert lines[-1] == b"" and len(expected) > EVENTS > 8 * BATCH_SIZE
    assert lines[:-1] == [body.encode() for _, body in expected]


async def test_csv_export_has_the_search_ids_in_order_and_the_bodies_as_json(api: Api, reader: Key) -> None:
    expected = await search_all(api, reader, {})
    response = await export(api, reader, format="csv")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.content.startswith(b"id,time,action,eventType,actor,resources,remoteIP,body\r\n")
    records = csv_records(response.content)
    assert [(record["id"], record["body"]) for record in records] == expected
    oldest = records[-1]  # the last seeded event, EVENTS seconds ago
    assert list(oldest) == list(CSV_COLUMNS)
    assert oldest["resources"] == f"affected=STACK:stack-{(EVENTS - 1) % 11}" and oldest["time"].endswith("Z")
    assert orjson.loads(oldest["body"])["data"] == {"index": EVENTS - 1, "note": "exported"}


async def test_filters_and_ascending_order_select_what_the_search_selects(api: Api, reader: Key) -> None:
    search_input = {
        "predicates": [
            predicate("action", stringMatches=["stack.*"]),
            predicate("actor", exclude=True, stringMatches=["github::user3"]),
            predicate("eventType", enumEquals=["UPDATE"]),
        ],
        "fullTextSearch": "exported",
        "orderBy": {"field": "createdAt", "direction": "ASC"},
    }
    expected = await search_all(api, reader, search_input)
    response = await export(api, reader, search_input, format="ndjson")
    assert response.status_code == 200, response.text
    assert 0 < len(expected) < EVENTS
    assert response.content.split(b"\n")[:-1] == [body.encode() for _, body in expected]


async def test_post_body_and_accept_header_choose_input_and_format(api: Api, reader: Key) -> None:
    search_input = {"predicates": [predicate("action", stringMatches=["policy.attach"])]}
    expected = await search_all(api, reader, search_input)
    response = await api.client.post(
        "/export", json=search_input, headers={"Authorization": f"Bearer {reader.jwt}", "Accept": "text/csv"}
    )
    assert response.status_code == 200, response.text
    assert [record["id"] for record in csv_records(response.content)] == [event_id for event_id, _ in expected]


async def test_the_file_name_names_the_account_and_the_range(api: Api, reader: Key) -> None:
    ranged = {"predicates": [predicate("createdAt", timeInRange={"start": 1764547200, "end": 1764633599})]}
    response = await export(api, reader, ranged, format="csv")
    assert response.headers["content-disposition"] == (
        'attachment; filename="audittrail-acme-20251201T000000Z-20251201T235959Z.csv"'
    )
    unbounded = (await export(api, reader)).headers["content-disposition"]
    assert unbounded.startswith('attachment; filename="audittrail-acme-beginning-') and unbounded.endswith('Z.ndjson"')


async def test_spreadsheet_formulas_are_neutralised_and_quotes_survive(api: Api) -> None:
    key = await api.key("acme", Role.ADMIN)
    hostile = [
        draft("stack.create", '=HYPERLINK("http://evil")::x', at=ago(minutes=4), remote_ip="+1+1"),
        draft("stack.create", "@SUM(A1)::y", at=ago(minutes=3), affected=("STACK", 'a,"b"\r\nc')),
        draft("stack.create", "-2+3::z", at=ago(minutes=2), data={"cell": "=1+1", "quote": '"', "line": "a\nb"}),
        draft("stack.create", "\tcmd::w", at=ago(minutes=1)),
    ]
    await seed(api.db, key.account_id, hostile)
    response = await export(
        api, key, {"predicates": [predicate("action", stringMatches=["stack.create"])]}, format="csv"
    )
    records = csv_records(response.content)
    assert [record["actor"] for record in records] == [
        "'\tcmd::w",
        "'-2+3::z",
        "'@SUM(A1)::y",
        '\'=HYPERLINK("http://evil")::x',
    ]
    assert records[3]["remoteIP"] == "'+1+1"
    assert records[2]["resources"] == 'affected=STACK:a,"b"\r\nc'
    # The body cell is the stored body exactly: JSON starts with "{", never with a formula character.
    stored = dict(await search_all(api, key, {"predicates": [predicate("action", stringMatches=["stack.create"])]}))
    assert all(record["body"] == stored[record["id"]] for record in records)
    assert orjson.loads(records[1]["body"])["data"] == {"cell": "=1+1", "quote": '"', "line": "a\nb"}


async def test_no_token_a_service_key_and_a_revoked_key_are_refused(api: Api, reader: Key) -> None:
    anonymous = await export(api, None)
    assert anonymous.status_code == 401
    assert anonymous.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    service = await api.key("acme", Role.SERVICE)
    refused = await export(api, service)
    assert refused.status_code == 403
    assert refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert "ADMIN or READER" in refused.json()["errors"][0]["message"]
    admin = await api.key("acme", Role.ADMIN)
    revoke = "mutation($id: ID!) { apiKeyDelete(id: $id) { id } }"
    (await api.gql(revoke, {"id": reader.id}, token=admin.jwt)).ok()
    revoked = await export(api, reader)
    assert revoked.status_code == 401 and b"stack." not in revoked.content


async def test_another_accounts_token_exports_only_its_own_events(api: Api, reader: Key) -> None:
    other = await api.key("globex", Role.ADMIN)
    await seed(api.db, other.account_id, [draft("globex.only", "github::eve")], account_name="globex")
    response = await export(api, other, format="csv")
    assert response.status_code == 200
    assert sorted(record["action"] for record in csv_records(response.content)) == ["account.login", "globex.only"]
    assert "globex" in response.headers["content-disposition"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"input": "{not json"}, "input must be a JSON SearchInput object"),
        ({"input": '{"predicates": [{"field": "nope", "constraint": {"stringMatches": ["x"]}}]}'}, "unknown field"),
        ({"input": '{"orderBy": {"field": "action"}}'}, "orderBy field must be one of createdAt"),
        ({"input": '{"predicates": "action"}'}, "not a valid SearchInput"),
        ({"format": "xlsx"}, "format must be ndjson or csv"),
    ],
)
async def test_bad_input_is_refused_before_the_stream_starts(
    api: Api, reader: Key, params: dict[str, str], message: str
) -> None:
    query = urllib.parse.urlencode(params)
    response = await api.client.get(f"/export?{query}", headers={"Authorization": f"Bearer {reader.jwt}"})
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT" and message in error["message"]
