"""Custom headers: set and delete one by one, kept on updates, never following the endpoint elsewhere."""

from __future__ import annotations

import orjson
from sqlalchemy import text

from api.models import Role
from tests.helpers import Api, Key
from tests.receivers import SET_WEBHOOK, Receiver, running_receiver, webhook_input

SET_HEADERS = (
    "mutation($input: AuditTrailWebhookSetHeadersInput!) { auditTrailWebhookSetHeaders(input: $input)"
    " { customHeaderNames } }"
)
DELETE_HEADERS = (
    "mutation($input: AuditTrailWebhookDeleteHeadersInput!) { auditTrailWebhookDeleteHeaders(input: $input)"
    " { customHeaderNames } }"
)
NAMES = "{ auditTrailWebhook { customHeaderNames } }"
CREDENTIAL = "collector-credential-7f3a"


def entries(**headers: str) -> dict[str, list[dict[str, str]]]:
    return {"entries": [{"key": name.replace("_", "-"), "value": value} for name, value in headers.items()]}


async def names(api: Api, admin: Key) -> list[str]:
    return list((await api.gql(NAMES, token=admin.jwt)).ok()["auditTrailWebhook"]["customHeaderNames"])


async def test_set_adds_and_replaces_by_name_and_delete_removes(api: Api, receiver: Receiver) -> None:
    admin = await api.key("acme", Role.ADMIN)
    (
        await api.gql(
            SET_WEBHOOK, {"input": webhook_input(receiver.url, customHeaders=entries(X_A="1"))}, token=admin.jwt
        )
    ).ok()
    added = await api.gql(SET_HEADERS, {"input": entries(x_a="2", X_Token=CREDENTIAL)}, token=admin.jwt)
    assert added.ok()["auditTrailWebhookSetHeaders"]["customHeaderNames"] == ["x-a", "X-Token"]
    removed = await api.gql(DELETE_HEADERS, {"input": {"keys": ["X-A", "X-Never-Set"]}}, token=admin.jwt)
    assert removed.ok()["auditTrailWebhookDeleteHeaders"]["customHeaderNames"] == ["X-Token"]

    async with api.db.transaction() as session:
        stored = (await session.execute(text("SELECT body FROM audit_events WHERE action LIKE '%headers'"))).scalars()
        bodies = [orjson.loads(body) for body in stored]
    assert [body["data"]["args"] for body in bodies] == [
        {"Entries": {"x-a": "[REDACTED]", "X-Token": "[REDACTED]"}},
        {"Keys": ["X-A", "X-Never-Set"]},
    ]
    assert CREDENTIAL not in str(added.json) + str(removed.json) + str(bodies)


async def test_invalid_headers_are_refused_by_name_and_nothing_changes(api: Api, receiver: Receiver) -> None:
    admin = await api.key("acme", Role.ADMIN)
    (await api.gql(SET_WEBHOOK, {"input": webhook_input(receiver.url)}, token=admin.jwt)).ok()
    for bad in (entries(X_Ok="1", X_Signature="forged"), entries(X_Cafe="café"), entries(Connection="close")):
        refused = await api.gql(SET_HEADERS, {"input": bad}, token=admin.jwt)
        assert refused.codes == ["BAD_USER_INPUT"], refused.json
        assert "café" not in refused.errors[0]["message"]
    assert await names(api, admin) == []


async def test_header_changes_need_a_webhook_and_an_admin(api: Api) -> None:
    admin = await api.key("acme", Role.ADMIN)
    reader = await api.key("acme", Role.READER)
    assert (await api.gql(SET_HEADERS, {"input": entries(X_A="1")}, token=admin.jwt)).codes == ["NOT_FOUND"]
    assert (await api.gql(DELETE_HEADERS, {"input": {"keys": ["X-A"]}}, token=reader.jwt)).codes == ["FORBIDDEN"]


async def test_null_headers_keep_them_and_an_empty_list_clears_them(api: Api, receiver: Receiver) -> None:
    admin = await api.key("acme", Role.ADMIN)
    with_headers = webhook_input(receiver.url, customHeaders=entries(X_Token=CREDENTIAL))
    (await api.gql(SET_WEBHOOK, {"input": with_headers}, token=admin.jwt)).ok()
    (
        await api.gql(SET_WEBHOOK, {"input": webhook_input(receiver.url + "/v2", customHeaders=None)}, token=admin.jwt)
    ).ok()
    assert await names(api, admin) == ["X-Token"]  # same origin, another path: the headers stay
    assert receiver.requests[-1].header("X-Token") == CREDENTIAL
    (
        await api.gql(
            SET_WEBHOOK, {"input": webhook_input(receiver.url, customHeaders={"entries": []})}, token=admin.jwt
        )
    ).ok()
    assert await names(api, admin) == []


async def test_headers_do_not_follow_the_endpoint_to_another_origin(api: Api, receiver: Receiver) -> None:
    admin = await api.key("acme", Role.ADMIN)
    with_headers = webhook_input(receiver.url, customHeaders=entries(X_Token=CREDENTIAL))
    (await api.gql(SET_WEBHOOK, {"input": with_headers}, token=admin.jwt)).ok()
    async with running_receiver() as elsewhere:
        moved = webhook_input(elsewhere.url, customHeaders=None)  # another port: another origin
        (await api.gql(SET_WEBHOOK, {"input": moved}, token=admin.jwt)).ok()
        assert await names(api, admin) == []
        assert [request.header("X-Token") for request in elsewhere.requests] == [None]

        given_again = webhook_input(receiver.url, customHeaders=entries(X_Token=CREDENTIAL))
        (await api.gql(SET_WEBHOOK, {"input": given_again}, token=admin.jwt)).ok()
    assert await names(api, admin) == ["X-Token"]
    assert receiver.requests[-1].header("X-Token") == CREDENTIAL
