"""Saved filters (the Logs tab's views): Spacelift's savedFilter* API, per account, audited, private or public."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from sqlalchemy import text

from api.models import Role
from tests.helpers import Api, Key

FIELDS = "{id,name,data,type,isPublic,createdBy}"
# The documents Spacelift's Terraform provider sends (resource_saved_filter.go, shurcooL's builder).
PROVIDER_CREATE = "mutation($input:SavedFilterInput!){savedFilterCreate(input: $input)" + FIELDS + "}"
PROVIDER_READ = "query($id:ID!){savedFilter(id: $id)" + FIELDS + "}"
PROVIDER_UPDATE = (
    "mutation($data:String!$id:ID!$isPublic:Boolean!$name:String!)"
    "{savedFilterUpdate(id: $id, name: $name, data: $data, isPublic: $isPublic)" + FIELDS + "}"
)
PROVIDER_DELETE = "mutation($id:ID!){savedFilterDelete(id: $id)" + FIELDS + "}"
# data_saved_filters.go: `graphql:"savedFilters()"`, empty parentheses the grammar does not allow.
PROVIDER_LIST = "{savedFilters()" + FIELDS + "}"
LIST = "query($type: String) { savedFilters(type: $type) { id name isPublic createdBy } }"
RENAME = "mutation($id: ID!, $name: String!) { savedFilterUpdate(id: $id, name: $name) { id name data isPublic } }"

VIEW_DATA = json.dumps(
    {
        "predicates": [{"field": "action", "exclude": False, "constraint": {"stringMatches": ["api_key.*"]}}],
        "range": {"kind": "last", "number": 7, "unit": "DAYS"},
    }
)


async def create(
    api: Api, key: Key, name: str = "key changes", *, data: str = VIEW_DATA, is_public: bool = False
) -> Any:
    variables = {"input": {"name": name, "data": data, "type": "auditTrailEntries", "isPublic": is_public}}
    return await api.gql(PROVIDER_CREATE, variables, token=key.jwt)


async def saved_filter_events(api: Api) -> list[dict[str, Any]]:
    async with api.db.transaction() as session:
        rows = await session.execute(
            text(
                "SELECT action, event_type, affected_resource_type, affected_resource_id, body FROM audit_events"
                " WHERE action LIKE 'saved_filter.%' ORDER BY created_at, id"
            )
        )
        return [
            {"action": a, "type": t, "affected": (rt, rid), "body": json.loads(body)}
            for a, t, rt, rid, body in rows.all()
        ]


async def test_the_terraform_providers_lifecycle_round_trips_the_data_byte_for_byte(api: Api) -> None:
    admin = await api.key("acme", Role.ADMIN)
    spaced = '{ "predicates" : [],\n  "note": "é" }'
    created = (await create(api, admin, "ops", data=spaced, is_public=True)).ok()["savedFilterCreate"]
    assert created == {
        "id": created["id"],
        "name": "ops",
        "data": spaced,
        "type": "auditTrailEntries",
        "isPublic": True,
        "createdBy": admin.id,
    }
    read = (await api.gql(PROVIDER_READ, {"id": created["id"]}, token=admin.jwt)).ok()["savedFilter"]
    assert read == created

    changed = {"id": created["id"], "name": "ops 2", "data": "{}", "isPublic": False}
    updated = (await api.gql(PROVIDER_UPDATE, changed, token=admin.jwt)).ok()["savedFilterUpdate"]
    assert updated == {**created, "name": "ops 2", "data": "{}", "isPublic": False}

    deleted = (await api.gql(PROVIDER_DELETE, {"id": created["id"]}, token=admin.jwt)).ok()["savedFilterDelete"]
    assert deleted["name"] == "ops 2"
    gone = await api.gql(PROVIDER_READ, {"id": created["id"]}, token=admin.jwt)
    assert gone.ok()["savedFilter"] is None  # the provider reads null as "deleted outside Terraform"


async def test_each_mutation_is_audited_with_its_arguments(api: Api) -> None:
    reader = await api.key("acme", Role.READER)
    created = (await create(api, reader)).ok()["savedFilterCreate"]
    await api.gql(RENAME, {"id": created["id"], "name": "renamed"}, token=reader.jwt)
    await api.gql(PROVIDER_DELETE, {"id": created["id"]}, token=reader.jwt)

    events = await saved_filter_events(api)
    assert [(e["action"], e["type"]) for e in events] == [
        ("saved_filter.create", "CREATE"),
        ("saved_filter.update", "UPDATE"),
        ("saved_filter.delete", "DELETE"),
    ]
    assert {e["affected"] for e in events} == {("SAVED_FILTER", created["id"])}
    create_body, update_body, delete_body = (e["body"] for e in events)
    assert create_body["actor"] == f"api::{reader.id}"
    assert create_body["context"]["mutation"] == "savedFilterCreate"
    assert create_body["data"] == {
        "args": {"Name": "key changes", "Data": VIEW_DATA, "Type": "auditTrailEntries", "IsPublic": False}
    }
    assert update_body["data"] == {"args": {"ID": created["id"], "Name": "renamed"}}
    assert delete_body["data"] == {"args": {"ID": created["id"]}}


async def test_a_private_filter_is_seen_only_by_the_key_that_saved_it_and_a_public_one_by_the_account(
    api: Api,
) -> None:
    mine = await api.key("acme", Role.READER)
    colleague = await api.key("acme", Role.ADMIN)
    private = (await create(api, mine, "mine only")).ok()["savedFilterCreate"]
    public = (await create(api, mine, "shared", is_public=True)).ok()["savedFilterCreate"]

    assert [f["name"] for f in (await api.gql(LIST, token=mine.jwt)).ok()["savedFilters"]] == ["mine only", "shared"]
    assert [f["name"] for f in (await api.gql(LIST, token=colleague.jwt)).ok()["savedFilters"]] == ["shared"]
    assert (await api.gql(PROVIDER_READ, {"id": private["id"]}, token=colleague.jwt)).ok()["savedFilter"] is None
    # Not even an ADMIN changes another key's private filter: it does not exist for it.
    assert (await api.gql(RENAME, {"id": private["id"], "name": "x"}, token=colleague.jwt)).codes == ["NOT_FOUND"]
    assert (await api.gql(PROVIDER_DELETE, {"id": public["id"]}, token=colleague.jwt)).ok()


async def test_the_providers_saved_filters_data_source_lists_what_the_key_may_see(api: Api) -> None:
    """Its document has ``savedFilters()``: read as no arguments, it lists the same filters as the
    console's own document, for the key that asks and no other."""
    mine = await api.key("acme", Role.READER)
    colleague = await api.key("acme", Role.ADMIN)
    await create(api, mine, "mine only")
    public = (await create(api, mine, "shared", is_public=True)).ok()["savedFilterCreate"]
    listed = (await api.gql(PROVIDER_LIST, token=mine.jwt)).ok()["savedFilters"]
    assert [f["name"] for f in listed] == ["mine only", "shared"]
    assert (await api.gql(PROVIDER_LIST, token=colleague.jwt)).ok()["savedFilters"] == [public]
    assert (await api.gql(PROVIDER_LIST, token=(await api.key("globex", Role.ADMIN)).jwt)).ok()["savedFilters"] == []
    # Read again from the parsed documents kept by their text: the same answer.
    assert (await api.gql(PROVIDER_LIST, token=colleague.jwt)).ok()["savedFilters"] == [public]
    assert (await api.gql(PROVIDER_LIST)).codes == ["UNAUTHENTICATED"]


async def test_a_document_broken_elsewhere_than_its_empty_parentheses_gets_the_parsers_error(api: Api) -> None:
    reader = await api.key("acme", Role.READER)
    broken = await api.gql("{savedFilters(){id,name}", token=reader.jwt)
    assert broken.data is None
    assert len(broken.errors) == 1 and "Syntax Error" in broken.errors[0]["message"]
    assert broken.errors[0]["locations"] == [{"line": 1, "column": 15}]  # the text as sent: its ")"


async def test_only_the_saver_or_an_admin_changes_a_public_filter(api: Api) -> None:
    saver = await api.key("acme", Role.READER)
    other_reader = await api.key("acme", Role.READER)
    public = (await create(api, saver, "shared", is_public=True)).ok()["savedFilterCreate"]

    refused = await api.gql(RENAME, {"id": public["id"], "name": "mine now"}, token=other_reader.jwt)
    assert refused.codes == ["FORBIDDEN"]
    assert (await api.gql(PROVIDER_DELETE, {"id": public["id"]}, token=other_reader.jwt)).codes == ["FORBIDDEN"]
    assert (await api.gql(RENAME, {"id": public["id"], "name": "still shared"}, token=saver.jwt)).ok()
    assert [e["action"] for e in await saved_filter_events(api)] == ["saved_filter.create", "saved_filter.update"]


async def test_another_accounts_filter_is_not_found_and_not_listed(api: Api) -> None:
    acme = await api.key("acme", Role.ADMIN)
    globex = await api.key("globex", Role.ADMIN)
    theirs = (await create(api, globex, "globex view", is_public=True)).ok()["savedFilterCreate"]

    assert (await api.gql(LIST, token=acme.jwt)).ok()["savedFilters"] == []
    assert (await api.gql(PROVIDER_READ, {"id": theirs["id"]}, token=acme.jwt)).ok()["savedFilter"] is None
    assert (await api.gql(RENAME, {"id": theirs["id"], "name": "taken"}, token=acme.jwt)).codes == ["NOT_FOUND"]
    assert (await api.gql(PROVIDER_DELETE, {"id": theirs["id"]}, token=acme.jwt)).codes == ["NOT_FOUND"]
    # The same name is free in another account.
    assert (await create(api, acme, "globex view")).ok()
    assert [e["action"] for e in await saved_filter_events(api)] == ["saved_filter.create", "saved_filter.create"]


async def test_a_service_key_and_no_token_may_not_read_or_save_filters(api: Api) -> None:
    service = await api.key("acme", Role.SERVICE)
    assert (await create(api, service)).codes == ["FORBIDDEN"]
    assert (await api.gql(LIST, token=service.jwt)).codes == ["FORBIDDEN"]
    assert (await api.gql(LIST)).codes == ["UNAUTHENTICATED"]
    assert (
        await api.gql(
            PROVIDER_CREATE, {"input": {"name": "x", "data": "{}", "type": "auditTrailEntries", "isPublic": False}}
        )
    ).codes == ["UNAUTHENTICATED"]
    assert await saved_filter_events(api) == []


async def test_a_duplicate_name_is_a_conflict_and_leaves_nothing(api: Api) -> None:
    reader = await api.key("acme", Role.READER)
    other = await api.key("acme", Role.ADMIN)
    first = (await create(api, reader, "errors")).ok()["savedFilterCreate"]
    second = (await create(api, reader, "warnings")).ok()["savedFilterCreate"]

    duplicate = await create(api, other, "  errors ")
    assert duplicate.codes == ["CONFLICT"]
    assert "errors" in duplicate.errors[0]["message"]
    assert (await api.gql(RENAME, {"id": second["id"], "name": "errors"}, token=reader.jwt)).codes == ["CONFLICT"]
    listed = (await api.gql(LIST, token=reader.jwt)).ok()["savedFilters"]
    assert [(f["id"], f["name"]) for f in listed] == [(first["id"], "errors"), (second["id"], "warnings")]
    assert len(await saved_filter_events(api)) == 2


async def test_hostile_names_are_refused_or_kept_as_plain_text(api: Api) -> None:
    reader = await api.key("acme", Role.READER)
    script = '<img src=x onerror=alert(1)><script>alert("x")</script>'
    kept = (await create(api, reader, script)).ok()["savedFilterCreate"]
    assert kept["name"] == script

    for hostile in ("", "   ", "a\x00b", "line\nbreak", "x" * 101, "x" * 10_000):
        result = await create(api, reader, hostile)
        assert result.codes == ["BAD_USER_INPUT"], hostile[:20]
        assert hostile not in result.errors[0]["message"] or not hostile.strip()
    assert (await api.gql(RENAME, {"id": kept["id"], "name": "x" * 10_000}, token=reader.jwt)).codes == [
        "BAD_USER_INPUT"
    ]
    assert [f["name"] for f in (await api.gql(LIST, token=reader.jwt)).ok()["savedFilters"]] == [script]


async def test_data_must_be_a_json_object_of_at_most_16_kib(api: Api) -> None:
    reader = await api.key("acme", Role.READER)
    at_limit = json.dumps({"pad": "x" * (16 * 1024 - 11)})
    assert len(at_limit.encode()) == 16 * 1024
    assert (await create(api, reader, "at the limit", data=at_limit)).ok()

    too_large = json.dumps({"pad": "x" * (16 * 1024)})
    refused = await create(api, reader, "too large", data=too_large)
    assert refused.codes == ["BAD_USER_INPUT"]
    assert "at most 16384 bytes" in refused.errors[0]["message"]
    for not_an_object in ("not json", "[1, 2]", '"text"', "null", '{"a": 1', '{"a": "\x00"}'):
        assert (await create(api, reader, "bad", data=not_an_object)).codes == ["BAD_USER_INPUT"], not_an_object
    unknown_type = await api.gql(
        PROVIDER_CREATE,
        {"input": {"name": "stacks", "data": "{}", "type": "stacks", "isPublic": False}},
        token=reader.jwt,
    )
    assert unknown_type.codes == ["BAD_USER_INPUT"]
    assert "auditTrailEntries" in unknown_type.errors[0]["message"]
    assert [e["action"] for e in await saved_filter_events(api)] == ["saved_filter.create"]


async def test_an_update_without_changes_and_a_malformed_id_are_bad_input_or_not_found(api: Api) -> None:
    reader = await api.key("acme", Role.READER)
    created = (await create(api, reader)).ok()["savedFilterCreate"]
    nothing = await api.gql(
        "mutation($id: ID!) { savedFilterUpdate(id: $id) { id } }", {"id": created["id"]}, token=reader.jwt
    )
    assert nothing.codes == ["BAD_USER_INPUT"]
    long_id = await api.gql(PROVIDER_DELETE, {"id": "x" * 5000}, token=reader.jwt)
    assert long_id.codes == ["NOT_FOUND"]
    assert "x" * 100 not in long_id.errors[0]["message"]
    assert (await api.gql(PROVIDER_READ, {"id": "x" * 5000}, token=reader.jwt)).ok()["savedFilter"] is None


async def test_concurrent_saves_of_one_name_keep_one_and_answer_conflict_to_the_others(api: Api) -> None:
    reader = await api.key("acme", Role.READER)
    results = await asyncio.gather(*(create(api, reader, "racing") for _ in range(5)))
    codes = sorted(",".join(result.codes) or "ok" for result in results)
    assert codes == ["CONFLICT"] * 4 + ["ok"]
    assert [f["name"] for f in (await api.gql(LIST, token=reader.jwt)).ok()["savedFilters"]] == ["racing"]
    assert [e["action"] for e in await saved_filter_events(api)] == ["saved_filter.create"]
