"""Isolation and roles: every query and mutation x every role (and no token) x own/other account.

The role rules (README, Roles): ADMIN does everything in its account; READER only queries; SERVICE records events and
queries nothing else.  The code (and the schema's descriptions) make ``apiKeys`` and
``auditTrailWebhook`` ADMIN only, and let every role read ``viewer``: that is the documented access
this matrix holds the API to.  An id of another account is never found, whatever the role.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from api.models import Role
from tests.receivers import running_receiver
from tests.reliability.stack import CANARY_WEBHOOK_SECRET, Stack, Tenant

OK, NULL = "ok", "null"
FORBIDDEN, UNAUTHENTICATED, NOT_FOUND = "FORBIDDEN", "UNAUTHENTICATED", "NOT_FOUND"
NO_TOKEN = "no token"


@dataclass(frozen=True)
class Operation:
    name: str
    field: str
    document: str
    variables: Callable[[World], dict[str, Any]] = lambda world: {}
    is_query: bool = False
    other_account: bool = False
    """Its argument is an id that belongs to the other account."""


@dataclass
class World:
    """Ids the operations refer to: the caller's own and the other account's."""

    own: Tenant
    other: Tenant
    endpoint: str
    own_entry_id: str = ""
    other_entry_id: str = ""
    own_delivery_id: str = ""
    other_delivery_id: str = ""
    own_replay_id: str = ""
    other_replay_id: str = ""
    spare_key_ids: list[str] | None = None
    own_filter_ids: dict[str, str] | None = None
    """A private saved filter of each own key that may save one (READER, ADMIN), by role."""
    other_filter_id: str = ""
    role: str = ""
    """The role whose row of the matrix is being sent."""


WEBHOOK = "{ enabled endpoint }"
REPLAY = "mutation($input: AuditTrailReplayInput!) { auditTrailReplay(input: $input) { id status } }"
DELIVERY = "{ id status }"
SAVED_FILTER_CREATE = "mutation($input: SavedFilterInput!) { savedFilterCreate(input: $input) { id } }"


def own_filter_id(world: World) -> str:
    return (world.own_filter_ids or {}).get(world.role, "01ARZ3NDEKTSV4RRFFQ69G5FAV")


def filter_input(name: str, *, is_public: bool = False) -> dict[str, Any]:
    return {"input": {"name": name, "data": "{}", "type": "auditTrailEntries", "isPublic": is_public}}


OPERATIONS = [
    Operation("viewer", "viewer", "{ viewer { id role account { name } } }", is_query=True),
    Operation("apiKeys", "apiKeys", "{ apiKeys { id } }", is_query=True),
    Operation("debugInfo", "debugInfo", "{ debugInfo { commitSha selfHostedVersion version } }", is_query=True),
    Operation("auditTrailRetentionDays", "auditTrailRetentionDays", "{ auditTrailRetentionDays }", is_query=True),
    Operation(
        "searchAuditTrailEntries",
        "searchAuditTrailEntries",
        "query($input: SearchInput!) { searchAuditTrailEntries(input: $input) { edges { node { id } } } }",
        lambda world: {"input": {"first": 5}},
        is_query=True,
    ),
    Operation(
        "searchAuditTrailEntriesSuggestions",
        "searchAuditTrailEntriesSuggestions",
        "query($input: SearchSuggestionsInput!) {"
        " searchAuditTrailEntriesSuggestions(input: $input) { filteredCount } }",
        lambda world: {"input": {"field": "action"}},
        is_query=True,
    ),
    Operation(
        "auditTrailEntry(own)",
        "auditTrailEntry",
        "query($id: ID!) { auditTrailEntry(id: $id) { id } }",
        lambda world: {"id": world.own_entry_id},
        is_query=True,
    ),
    Operation(
        "auditTrailEntry(other)",
        "auditTrailEntry",
        "query($id: ID!) { auditTrailEntry(id: $id) { id } }",
        lambda world: {"id": world.other_entry_id},
        is_query=True,
        other_account=True,
    ),
    Operation("auditTrailWebhook", "auditTrailWebhook", f"{{ auditTrailWebhook {WEBHOOK} }}", is_query=True),
    Operation(
        "apiKeyCreate",
        "apiKeyCreate",
        "mutation($input: ApiKeyCreateInput!) { apiKeyCreate(input: $input) { id } }",
        lambda world: {"input": {"name": "matrix", "role": "READER"}},
    ),
    Operation(
        "apiKeyDelete(own)",
        "apiKeyDelete",
        "mutation($id: ID!) { apiKeyDelete(id: $id) { id } }",
        lambda world: {"id": (world.spare_key_ids or [""]).pop()},
    ),
    Operation(
        "apiKeyDelete(other)",
        "apiKeyDelete",
        "mutation($id: ID!) { apiKeyDelete(id: $id) { id } }",
        lambda world: {"id": world.other.key_ids[Role.READER]},
        other_account=True,
    ),
    Operation(
        "auditTrailRecordEvents",
        "auditTrailRecordEvents",
        "mutation($events: [AuditTrailEventInput!]!) { auditTrailRecordEvents(events: $events) { id } }",
        lambda world: {"events": [{"action": "matrix.recorded", "actor": "matrix::probe", "eventType": "CREATE"}]},
    ),
    Operation(
        "auditTrailSetRetention",
        "auditTrailSetRetention",
        "mutation { auditTrailSetRetention(days: 30) { retentionDays } }",
    ),
    Operation(
        "auditTrailSetWebhook",
        "auditTrailSetWebhook",
        f"mutation($input: AuditTrailWebhookInput!) {{ auditTrailSetWebhook(input: $input) {WEBHOOK} }}",
        lambda world: {"input": {"enabled": True, "endpoint": world.endpoint, "secret": CANARY_WEBHOOK_SECRET}},
    ),
    Operation(
        "auditTrailDisableWebhook", "auditTrailDisableWebhook", f"mutation {{ auditTrailDisableWebhook {WEBHOOK} }}"
    ),
    Operation(
        "auditTrailEnableWebhook", "auditTrailEnableWebhook", f"mutation {{ auditTrailEnableWebhook {WEBHOOK} }}"
    ),
    Operation("auditTrailTestWebhook", "auditTrailTestWebhook", f"mutation {{ auditTrailTestWebhook {DELIVERY} }}"),
    Operation(
        "auditTrailRedeliver(own)",
        "auditTrailRedeliver",
        f"mutation($id: ID!) {{ auditTrailRedeliver(id: $id) {DELIVERY} }}",
        lambda world: {"id": world.own_delivery_id},
    ),
    Operation(
        "auditTrailRedeliver(other)",
        "auditTrailRedeliver",
        f"mutation($id: ID!) {{ auditTrailRedeliver(id: $id) {DELIVERY} }}",
        lambda world: {"id": world.other_delivery_id},
        other_account=True,
    ),
    Operation(
        "auditTrailWebhookSetHeaders",
        "auditTrailWebhookSetHeaders",
        "mutation($input: AuditTrailWebhookSetHeadersInput!) {"
        f" auditTrailWebhookSetHeaders(input: $input) {WEBHOOK} }}",
        lambda world: {"input": {"entries": [{"key": "X-Matrix", "value": "1"}]}},
    ),
    Operation(
        "auditTrailWebhookDeleteHeaders",
        "auditTrailWebhookDeleteHeaders",
        "mutation($input: AuditTrailWebhookDeleteHeadersInput!) {"
        f" auditTrailWebhookDeleteHeaders(input: $input) {WEBHOOK} }}",
        lambda world: {"input": {"keys": ["X-Matrix"]}},
    ),
    Operation("auditTrailReplays", "auditTrailReplays", "{ auditTrailReplays { id status } }", is_query=True),
    Operation(
        "auditTrailDelivery(own)",
        "auditTrailDelivery",
        "query($id: ID!) { auditTrailDelivery(id: $id) { id attemptHistory { attempt } } }",
        lambda world: {"id": world.own_delivery_id},
        is_query=True,
    ),
    Operation(
        "auditTrailDelivery(other)",
        "auditTrailDelivery",
        "query($id: ID!) { auditTrailDelivery(id: $id) { id attemptHistory { attempt } } }",
        lambda world: {"id": world.other_delivery_id},
        is_query=True,
        other_account=True,
    ),
    Operation(
        "auditTrailDigestPublicKeys",
        "auditTrailDigestPublicKeys",
        "{ auditTrailDigestPublicKeys { keyId } }",
        is_query=True,
    ),
    Operation(
        "auditTrailVerify",
        "auditTrailVerify",
        "query($input: AuditTrailVerifyInput!) { auditTrailVerify(input: $input) { clean } }",
        lambda world: {"input": {}},
        is_query=True,
    ),
    Operation(
        "auditTrailSetDigestEvents",
        "auditTrailSetDigestEvents",
        "mutation { auditTrailSetDigestEvents(enabled: true) }",
    ),
    Operation(
        "auditTrailCancelReplay(other)",
        "auditTrailCancelReplay",
        "mutation($id: ID!) { auditTrailCancelReplay(id: $id) { id status } }",
        lambda world: {"id": world.other_replay_id},
        other_account=True,
    ),
    # Cancel before start: the own account's replay from prepare_world runs until ADMIN cancels it.
    Operation(
        "auditTrailCancelReplay(own)",
        "auditTrailCancelReplay",
        "mutation($id: ID!) { auditTrailCancelReplay(id: $id) { id status } }",
        lambda world: {"id": world.own_replay_id},
    ),
    Operation(
        "auditTrailReplay",
        "auditTrailReplay",
        REPLAY,
        lambda world: {"input": {"from": "2000-01-01T00:00:00Z", "to": "2000-01-02T00:00:00Z"}},
    ),
    Operation(
        "auditTrailDeleteWebhook", "auditTrailDeleteWebhook", f"mutation {{ auditTrailDeleteWebhook {WEBHOOK} }}"
    ),
    Operation("savedFilters", "savedFilters", "{ savedFilters { id } }", is_query=True),
    Operation(
        "savedFilter(own)",
        "savedFilter",
        "query($id: ID!) { savedFilter(id: $id) { id } }",
        lambda world: {"id": own_filter_id(world)},
        is_query=True,
    ),
    Operation(
        "savedFilter(other)",
        "savedFilter",
        "query($id: ID!) { savedFilter(id: $id) { id } }",
        lambda world: {"id": world.other_filter_id},
        is_query=True,
        other_account=True,
    ),
    Operation(
        "savedFilterCreate",
        "savedFilterCreate",
        SAVED_FILTER_CREATE,
        lambda world: filter_input(f"matrix {world.role}"),
    ),
    Operation(
        "savedFilterUpdate(own)",
        "savedFilterUpdate",
        "mutation($id: ID!) { savedFilterUpdate(id: $id, isPublic: true) { id } }",
        lambda world: {"id": own_filter_id(world)},
    ),
    Operation(
        "savedFilterUpdate(other)",
        "savedFilterUpdate",
        "mutation($id: ID!) { savedFilterUpdate(id: $id, isPublic: false) { id } }",
        lambda world: {"id": world.other_filter_id},
        other_account=True,
    ),
    Operation(
        "savedFilterDelete(own)",
        "savedFilterDelete",
        "mutation($id: ID!) { savedFilterDelete(id: $id) { id } }",
        lambda world: {"id": own_filter_id(world)},
    ),
    Operation(
        "savedFilterDelete(other)",
        "savedFilterDelete",
        "mutation($id: ID!) { savedFilterDelete(id: $id) { id } }",
        lambda world: {"id": world.other_filter_id},
        other_account=True,
    ),
    # Last: it ends the very token the role's row of the matrix was sent with.
    Operation("logout", "logout", "mutation { logout { id login name type } }"),
]
READER_QUERIES = {
    "viewer",
    "debugInfo",
    "logout",
    "auditTrailRetentionDays",
    "searchAuditTrailEntries",
    "searchAuditTrailEntriesSuggestions",
    "auditTrailEntry",
    "auditTrailVerify",
    "auditTrailDigestPublicKeys",
    # Any key that reads the trail may save views, as any Spacelift user may (its own, or public ones).
    "savedFilters",
    "savedFilter",
    "savedFilterCreate",
    "savedFilterUpdate",
    "savedFilterDelete",
}
SERVICE_OPERATIONS = {"viewer", "debugInfo", "logout", "auditTrailRecordEvents", "auditTrailDigestPublicKeys"}


def expected(role: str, operation: Operation) -> str:
    """The documented outcome of ``operation`` for a caller with ``role``."""
    if role == NO_TOKEN:
        return UNAUTHENTICATED
    allowed = (
        role == Role.ADMIN
        or (role == Role.READER and operation.field in READER_QUERIES)
        or (role == Role.SERVICE and operation.field in SERVICE_OPERATIONS)
    )
    if not allowed:
        return FORBIDDEN
    if operation.other_account:
        return NULL if operation.is_query else NOT_FOUND
    return OK


def outcome(body: dict[str, Any], field: str) -> str:
    errors = body.get("errors") or []
    if errors:
        codes = {error.get("extensions", {}).get("code", "no code") for error in errors}
        return ",".join(sorted(codes))
    return OK if (body.get("data") or {}).get(field) is not None else NULL


async def prepare_world(stack: Stack, client: httpx.AsyncClient, endpoint: str) -> World:
    own = await stack.tenant("matrix-own")
    other = await stack.tenant("matrix-other")
    world = World(own=own, other=other, endpoint=endpoint)
    for tenant in (own, other):
        admin = tenant.tokens[Role.ADMIN]
        set_webhook = next(op for op in OPERATIONS if op.field == "auditTrailSetWebhook")
        response = await stack.gql(client, set_webhook.document, set_webhook.variables(world), token=admin)
        assert outcome(response.json(), "auditTrailSetWebhook") == OK, response.text
        deliveries = await stack.gql(
            client, "{ auditTrailWebhook { deliveries(first: 1) { edges { node { id eventId } } } } }", token=admin
        )
        [edge] = deliveries.json()["data"]["auditTrailWebhook"]["deliveries"]["edges"]
        # A replay of a range without events: it stays RUNNING while no worker runs here.
        empty_range = {"input": {"from": "2000-01-01T00:00:00Z", "to": "2000-01-02T00:00:00Z"}}
        replay = (await stack.gql(client, REPLAY, empty_range, token=admin)).json()["data"]["auditTrailReplay"]
        if tenant is own:
            world.own_delivery_id, world.own_entry_id = edge["node"]["id"], edge["node"]["eventId"]
            world.own_replay_id = replay["id"]
        else:
            world.other_delivery_id, world.other_entry_id = edge["node"]["id"], edge["node"]["eventId"]
            world.other_replay_id = replay["id"]
    world.own_filter_ids = {}
    for role in (Role.READER, Role.ADMIN):
        created = await stack.gql(
            client, SAVED_FILTER_CREATE, filter_input(f"own {role.value}"), token=own.tokens[role]
        )
        world.own_filter_ids[role.value] = created.json()["data"]["savedFilterCreate"]["id"]
    public = filter_input("other account's", is_public=True)
    created = await stack.gql(client, SAVED_FILTER_CREATE, public, token=other.tokens[Role.ADMIN])
    world.other_filter_id = created.json()["data"]["savedFilterCreate"]["id"]
    return world


async def other_account_state(stack: Stack, client: httpx.AsyncClient, world: World) -> dict[str, Any]:
    """What the other account's ADMIN sees of its own things (must not change while the own account acts)."""
    admin = world.other.tokens[Role.ADMIN]
    query = (
        "{ viewer { account { retentionDays } } apiKeys { id revokedAt } auditTrailWebhook { enabled endpoint }"
        " savedFilters { id name isPublic }"
        " searchAuditTrailEntries(input: {first: 500}) { edges { node { id action } } } }"
    )
    return dict((await stack.gql(client, query, token=admin)).json())


async def test_every_operation_by_every_role_gets_exactly_the_documented_access(stack: Stack) -> None:
    async with running_receiver() as receiver, httpx.AsyncClient(timeout=30) as client:
        world = await prepare_world(stack, client, receiver.url)
        introspected = (
            await stack.gql(client, "{ __schema { queryType { fields { name } } mutationType { fields { name } } } }")
        ).json()["data"]["__schema"]
        root_fields = introspected["queryType"]["fields"] + introspected["mutationType"]["fields"]
        schema_fields = {root_field["name"] for root_field in root_fields}
        covered = {operation.field for operation in OPERATIONS} | {"apiKeyUser"}
        assert covered == schema_fields, "every operation of the schema belongs in the matrix"

        before = await other_account_state(stack, client, world)
        got: dict[tuple[str, str], str] = {}
        want: dict[tuple[str, str], str] = {}
        for role in (NO_TOKEN, Role.SERVICE, Role.READER, Role.ADMIN):
            world.spare_key_ids = [(await stack.tenant("matrix-own", (Role.READER,))).key_ids[Role.READER]]
            token = None if role == NO_TOKEN else world.own.tokens[Role(role)]
            world.role = str(role)
            for operation in OPERATIONS:
                response = await stack.gql(client, operation.document, operation.variables(world), token=token)
                assert response.status_code == 200, response.text
                got[(str(role), operation.name)] = outcome(response.json(), operation.field)
                want[(str(role), operation.name)] = expected(str(role), operation)
        after = await other_account_state(stack, client, world)

        # apiKeyUser needs no token and answers the same to everyone: a key of either account logs in.
        login = "mutation($id: ID!, $secret: String!) { apiKeyUser(id: $id, secret: $secret) { jwt } }"
        wrong = await stack.gql(client, login, {"id": world.other.key_ids[Role.ADMIN], "secret": "wrong"})
        assert outcome(wrong.json(), "apiKeyUser") == UNAUTHENTICATED

    mismatches = {cell: (got[cell], want[cell]) for cell in want if got[cell] != want[cell]}
    print(f"\nrole matrix: {len(want)} cells (roles x operations), mismatches: {mismatches}")
    assert mismatches == {}, "(got, expected) per (role, operation)"
    assert before == after, "the other account's things changed"
    assert not any(
        edge["node"]["action"] == "matrix.recorded" for edge in after["data"]["searchAuditTrailEntries"]["edges"]
    )


@pytest.mark.parametrize("role", [Role.READER, Role.SERVICE])
async def test_a_forbidden_mutation_leaves_no_event(stack: Stack, role: Role) -> None:
    tenant = await stack.tenant(f"forbidden-{role.value.lower()}")
    async with httpx.AsyncClient(timeout=30) as client:
        refused = await stack.gql(
            client, "mutation { auditTrailSetRetention(days: 9) { retentionDays } }", token=tenant.tokens[role]
        )
        search = await stack.gql(
            client,
            '{ searchAuditTrailEntries(input: {fullTextSearch: "set_retention"}) { edges { node { id } } } }',
            token=tenant.tokens[Role.ADMIN],
        )
    assert outcome(refused.json(), "auditTrailSetRetention") == FORBIDDEN
    assert search.json()["data"]["searchAuditTrailEntries"]["edges"] == []
