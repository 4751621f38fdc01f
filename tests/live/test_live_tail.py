"""auditTrailEntryAdded over graphql-transport-ws: what a subscriber gets, and what it never gets."""

from __future__ import annotations

from api.models import Role
from tests.helpers import Api
from tests.live.conftest import Served
from tests.live.support import Closed, live_client, record, wait_for_subscribers


async def test_subscriber_gets_entries_recorded_after_it_subscribed_under_its_filters(served: Served) -> None:
    ingestor = await served.api.key("acme", Role.SERVICE)
    reader = await served.api.key("acme", Role.READER)
    await record(served.api, ingestor.jwt, "stack.before")
    async with live_client(served.url, reader.jwt) as client:
        filtered = {"predicates": [{"field": "action", "constraint": {"stringMatches": ["stack.*"]}}]}
        await client.subscribe(filtered)
        await wait_for_subscribers(served.api.client, 1)
        ids = await record(served.api, ingestor.jwt, "stack.create", "run.start", "stack.delete")
        entries = await client.entries(2)
    assert [entry["action"] for entry in entries] == ["stack.create", "stack.delete"]
    assert [entry["id"] for entry in entries] == [ids[0], ids[2]]


async def test_input_without_filters_gets_every_new_entry_of_its_own_account_only(served: Served) -> None:
    acme = await served.api.key("acme", Role.ADMIN)
    other = await served.api.key("globex", Role.ADMIN)
    async with live_client(served.url, acme.jwt) as client:
        await client.subscribe({})
        await wait_for_subscribers(served.api.client, 1)
        await record(served.api, other.jwt, "secret.globex_only")
        ids = await record(served.api, acme.jwt, "stack.create")
        entries = await client.entries(1)
    assert [entry["id"] for entry in entries] == ids
    assert "globex" not in entries[0]["body"]


async def test_full_text_search_and_excluded_predicates_filter_like_the_search(served: Served) -> None:
    acme = await served.api.key("acme", Role.ADMIN)
    async with live_client(served.url, acme.jwt) as client:
        await client.subscribe(
            {
                "fullTextSearch": "ALICE",
                "predicates": [{"field": "action", "constraint": {"stringMatches": ["run.*"]}, "exclude": True}],
            }
        )
        await wait_for_subscribers(served.api.client, 1)
        await record(served.api, acme.jwt, "run.start", "stack.create", actor="github::alice")
        await record(served.api, acme.jwt, "stack.update", actor="github::bob")
        await record(served.api, acme.jwt, "stack.delete", actor="github::alice")
        entries = await client.entries(2)
    assert [entry["action"] for entry in entries] == ["stack.create", "stack.delete"]


async def test_service_key_is_forbidden_and_bad_filters_are_bad_input(served: Served) -> None:
    service = await served.api.key("acme", Role.SERVICE)
    admin = await served.api.key("acme", Role.ADMIN)
    async with live_client(served.url, service.jwt) as client:
        await client.subscribe({})
        refused = await client.next_message()
    assert isinstance(refused, dict) and refused["type"] in ("next", "error"), refused
    assert "FORBIDDEN" in str(refused) and "ADMIN or READER" in str(refused)
    async with live_client(served.url, admin.jwt) as client:
        await client.subscribe({"predicates": [{"field": "nope", "constraint": {"stringMatches": ["x"]}}]})
        refused = await client.next_message()
    assert "BAD_USER_INPUT" in str(refused) and "unknown field 'nope'" in str(refused), refused


async def test_missing_garbage_and_foreign_tokens_are_refused_at_connection_init(served: Served) -> None:
    issued_elsewhere = await served.api.key("acme", Role.ADMIN, login=False)
    # A token issued for another base URL (its audience) is refused here, as over HTTP.
    other_base = await served.api.gql(
        "mutation($id: ID!, $secret: String!) { apiKeyUser(id: $id, secret: $secret) { jwt } }",
        {"id": issued_elsewhere.id, "secret": issued_elsewhere.secret},
        headers={"Host": "elsewhere.example"},
    )
    foreign_jwt = other_base.ok()["apiKeyUser"]["jwt"]
    payloads: tuple[dict[str, str] | None, ...] = (
        None,  # a connection_init without any payload carries no token either
        {},
        {"Authorization": "Bearer not-a-jwt"},
        {"Authorization": f"Bearer {foreign_jwt}"},
    )
    for payload in payloads:
        async with live_client(served.url, None) as client:
            closed = await client.init(payload)
        assert isinstance(closed, Closed), closed
        assert closed.code == 4403
        assert closed.reason.startswith("unauthorized"), closed.reason


async def test_subscribe_before_connection_init_is_closed_unauthorized(served: Served) -> None:
    async with live_client(served.url, None) as client:
        await client.subscribe({})
        closed = await client.next_message()
    assert closed == Closed(4401, "Unauthorized")


async def test_a_subscription_sent_over_http_is_refused_with_where_to_send_it(api: Api) -> None:
    reader = await api.key("acme", Role.READER)
    authorization = {"Authorization": f"Bearer {reader.jwt}"}
    named = "subscription Tail { auditTrailEntryAdded(input: {}) { id } }"
    for document, operation in ((named, None), ("query Q { viewer { id } }\n" + named, "Tail")):
        body = {"query": document, "operationName": operation}
        answer = (
            await api.client.post("/graphql", json=body, headers={"Authorization": f"Bearer {reader.jwt}"})
        ).json()
        assert answer["data"] is None
        assert answer["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
        assert answer["errors"][0]["message"].startswith("subscriptions run over a websocket on /graphql")
    # The query beside it still runs over HTTP.
    body = {"query": "query Q { viewer { id } }\n" + named, "operationName": "Q"}
    answer = (await api.client.post("/graphql", json=body, headers=authorization)).json()
    assert "errors" not in answer and answer["data"]["viewer"]["id"]
