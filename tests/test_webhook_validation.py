"""Inputs the webhook refuses with BAD_USER_INPUT: bad URLs, SSRF targets, header injection, bad secrets."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from api.app import create_app
from api.db import Database
from api.models import Role
from api.settings import Settings
from tests.helpers import Api
from tests.receivers import SET_WEBHOOK, Receiver, webhook_input

HEADER_VALUE = "v4lue-that-must-not-leak"


def headers(*pairs: tuple[str, str]) -> dict[str, object]:
    return {"entries": [{"key": key, "value": value} for key, value in pairs]}


BAD_INPUTS: dict[str, dict[str, Any]] = {
    "ftp scheme": {"endpoint": "ftp://example.com/hook"},
    "no scheme": {"endpoint": "example.com/hook"},
    "no host": {"endpoint": "http:///hook"},
    "too long": {"endpoint": "https://example.com/" + "a" * 2048},
    "newline in url": {"endpoint": "https://example.com/\r\nX-Injected: 1"},
    "credentials in url": {"endpoint": "https://user:pass@example.com/hook"},
    "bad port": {"endpoint": "https://example.com:99999/hook"},
    "secret too long": {"secret": "s" * 257},
    "CRLF in header value": {"customHeaders": headers(("X-Ok", f"{HEADER_VALUE}\r\nX-Injected: yes"))},
    "LF in header value": {"customHeaders": headers(("X-Ok", f"{HEADER_VALUE}\nX-Injected: yes"))},
    "CRLF in header name": {"customHeaders": headers(("X-Ok\r\nX-Injected", HEADER_VALUE))},
    "space in header name": {"customHeaders": headers(("X Bad", HEADER_VALUE))},
    "empty header name": {"customHeaders": headers(("", HEADER_VALUE))},
    "content-type override": {"customHeaders": headers(("content-type", HEADER_VALUE))},
    "user-agent override": {"customHeaders": headers(("User-Agent", HEADER_VALUE))},
    "host override": {"customHeaders": headers(("Host", HEADER_VALUE))},
    "content-length override": {"customHeaders": headers(("Content-Length", "0"))},
    "signature override": {"customHeaders": headers(("X-Signature-256", HEADER_VALUE))},
    "sha1 signature override": {"customHeaders": headers(("X-Signature", HEADER_VALUE))},
    "standard signature override": {"customHeaders": headers(("Webhook-Signature", HEADER_VALUE))},
    "webhook-id override": {"customHeaders": headers(("webhook-id", HEADER_VALUE))},
    "event id override": {"customHeaders": headers(("X-Audit-Event-Id", HEADER_VALUE))},
    "delivery id override": {"customHeaders": headers(("X-Audit-Delivery-Id", HEADER_VALUE))},
    "attempt override": {"customHeaders": headers(("X-Audit-Attempt", "9"))},
    "hop-by-hop connection": {"customHeaders": headers(("Connection", "close"))},
    "hop-by-hop transfer-encoding": {"customHeaders": headers(("Transfer-Encoding", "chunked"))},
    "duplicate header": {"customHeaders": headers(("X-A", HEADER_VALUE), ("x-a", HEADER_VALUE))},
    "21 headers": {"customHeaders": headers(*[(f"X-H{i}", HEADER_VALUE) for i in range(21)])},
}


async def test_bad_input_is_refused_and_nothing_is_sent(api: Api, receiver: Receiver) -> None:
    admin = await api.key("acme", Role.ADMIN)
    for case, fields in BAD_INPUTS.items():
        result = await api.gql(SET_WEBHOOK, {"input": {**webhook_input(receiver.url), **fields}}, token=admin.jwt)
        assert result.codes == ["BAD_USER_INPUT"], (case, result.json)
        assert HEADER_VALUE not in result.errors[0]["message"], case
    assert receiver.requests == []
    assert (await api.gql("{ auditTrailWebhook { endpoint } }", token=admin.jwt)).ok()["auditTrailWebhook"] is None


async def test_twenty_valid_custom_headers_are_accepted(api: Api, receiver: Receiver) -> None:
    admin = await api.key("acme", Role.ADMIN)
    twenty = headers(*[(f"X-H{i}", f"value {i}\twith tab") for i in range(20)])
    result = await api.gql(SET_WEBHOOK, {"input": webhook_input(receiver.url, customHeaders=twenty)}, token=admin.jwt)
    assert len(result.ok()["auditTrailSetWebhook"]["customHeaderNames"]) == 20
    assert receiver.requests[0].header("X-H19") == "value 19\twith tab"


@pytest.fixture
async def public_only_api(settings: Settings, db: Database) -> AsyncIterator[Api]:
    """The service as deployed: private endpoints refused."""
    app = create_app(settings.model_copy(update={"allow_private_endpoints": False}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://audittrail.test") as client:
            yield Api(client, db, settings)


SSRF_ENDPOINTS = [
    "http://127.0.0.1:9000/hook",
    "http://localhost/hook",
    "http://10.1.2.3/hook",
    "http://172.16.0.1/hook",
    "http://192.168.1.1/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://[fd00:ec2::254]/hook",
    "http://0.0.0.0/hook",
    "http://2130706433/hook",
    "https://100.64.0.1/hook",
]


async def test_private_loopback_link_local_and_metadata_targets_are_refused(
    public_only_api: Api, receiver: Receiver
) -> None:
    admin = await public_only_api.key("acme", Role.ADMIN)
    for endpoint in [*SSRF_ENDPOINTS, receiver.url]:
        result = await public_only_api.gql(SET_WEBHOOK, {"input": webhook_input(endpoint)}, token=admin.jwt)
        assert result.codes == ["BAD_USER_INPUT"], (endpoint, result.json)
    assert receiver.requests == []


async def test_private_targets_are_refused_for_disabled_webhooks_too(public_only_api: Api) -> None:
    admin = await public_only_api.key("acme", Role.ADMIN)
    result = await public_only_api.gql(
        SET_WEBHOOK, {"input": webhook_input("http://10.0.0.7/hook", enabled=False)}, token=admin.jwt
    )
    assert result.codes == ["BAD_USER_INPUT"]
    assert "private" in result.errors[0]["message"]
