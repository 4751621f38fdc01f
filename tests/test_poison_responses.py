"""What a hostile receiver answers is recorded, storable and redacted; it never breaks the delivery log."""

from __future__ import annotations

from api.models import Role
from tests.helpers import Api
from tests.receivers import SET_WEBHOOK, Reply, running_receiver, webhook_input

TEST = "mutation { auditTrailTestWebhook { status attempts lastStatusCode responseSnippet } }"
HEADER_VALUE = "collector-credential-0123456789abcdef"


def with_header() -> dict[str, object]:
    return {"entries": [{"key": "X-Collector-Token", "value": HEADER_VALUE}]}


async def test_nul_and_invalid_utf8_in_a_response_are_recorded_as_replacement_characters(api: Api) -> None:
    admin = await api.key("acme", Role.ADMIN)
    poison = Reply(status=502, body=b"bad\x00gateway\xff\xfe")
    async with running_receiver(script=[Reply()], default=poison) as receiver:
        (await api.gql(SET_WEBHOOK, {"input": webhook_input(receiver.url)}, token=admin.jwt)).ok()
        tested = await api.gql(TEST, token=admin.jwt)
    delivery = tested.ok()["auditTrailTestWebhook"]
    assert delivery == {
        "status": "FAILED",
        "attempts": 1,
        "lastStatusCode": 502,
        "responseSnippet": "bad\ufffdgateway\ufffd\ufffd",
    }


async def test_a_header_value_echoed_across_the_snippet_cut_leaves_no_prefix(api: Api) -> None:
    admin = await api.key("acme", Role.ADMIN)
    # The value starts 10 bytes before the 1 KiB cut: cutting first would keep its first 10 characters.
    echo = Reply(status=500, body=b"x" * 1014 + HEADER_VALUE.encode() + b" trailing")
    async with running_receiver(script=[Reply()], default=echo) as receiver:
        (
            await api.gql(
                SET_WEBHOOK, {"input": webhook_input(receiver.url, customHeaders=with_header())}, token=admin.jwt
            )
        ).ok()
        snippet = (await api.gql(TEST, token=admin.jwt)).ok()["auditTrailTestWebhook"]["responseSnippet"]
    assert HEADER_VALUE[:10] not in snippet
    assert snippet.startswith("x" * 1014 + "[REDAC") and len(snippet.encode()) == 1024
