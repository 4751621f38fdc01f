"""The delivery log says in plain words why an attempt failed; the raw error stays beside it."""

from __future__ import annotations

from typing import Any

import pytest

from api.models import Role
from api.webhooks import explain_attempt
from tests.helpers import Api
from tests.receivers import SET_WEBHOOK, Reply, running_receiver, unused_port, webhook_input

TEST = "mutation { auditTrailTestWebhook { status lastStatusCode lastError lastAttemptSummary } }"


async def send_test_to(api: Api, endpoint: str) -> dict[str, Any]:
    """A test delivery to ``endpoint``, saved disabled so that nothing verifies it first."""
    admin = await api.key("acme", Role.ADMIN)
    (await api.gql(SET_WEBHOOK, {"input": webhook_input(endpoint, enabled=False)}, token=admin.jwt)).ok()
    delivery: dict[str, Any] = (await api.gql(TEST, token=admin.jwt)).ok()["auditTrailTestWebhook"]
    return delivery


async def test_a_refused_connection_asks_whether_the_receiver_runs_and_keeps_the_raw_error(api: Api) -> None:
    delivery = await send_test_to(api, f"http://127.0.0.1:{unused_port()}/hook")

    assert delivery["status"] == "FAILED" and delivery["lastStatusCode"] is None
    assert delivery["lastError"].startswith("ConnectError: "), delivery
    assert delivery["lastAttemptSummary"] == "connection refused: is the receiver running, on this host and port?"


async def test_a_4xx_says_why_it_is_not_retried(api: Api) -> None:
    async with running_receiver(default=Reply(status=422, body=b"unprocessable")) as receiver:
        delivery = await send_test_to(api, receiver.url)

    assert delivery["lastStatusCode"] == 422
    assert delivery["lastAttemptSummary"].startswith("HTTP 422: the receiver refused the payload; a 4xx")
    assert "is not retried, since the same payload would be refused again" in delivery["lastAttemptSummary"]


async def test_a_delivered_attempt_has_no_summary(api: Api) -> None:
    async with running_receiver() as receiver:
        delivery = await send_test_to(api, receiver.url)

    assert delivery["status"] == "DELIVERED" and delivery["lastAttemptSummary"] is None


@pytest.mark.parametrize(
    ("status_code", "error", "summary_starts"),
    [
        (503, None, "HTTP 503: a temporary failure"),
        (429, None, "HTTP 429: a temporary failure"),
        (404, None, "HTTP 404: the receiver refused the payload"),
        (None, "timed out after 10 s", "the receiver did not answer in time"),
        (None, "ConnectError: [Errno -2] Name or service not known", "the endpoint's host name does not resolve"),
        (None, "ConnectError: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed", "TLS failed"),
        (None, "RemoteProtocolError: Server disconnected without sending a response.", "the receiver closed"),
    ],
)
def test_each_kind_of_failure_has_its_plain_words(
    status_code: int | None, error: str | None, summary_starts: str
) -> None:
    summary = explain_attempt(status_code=status_code, error=error)
    assert summary is not None and summary.startswith(summary_starts)


def test_an_error_with_nothing_plainer_to_say_keeps_only_the_raw_one() -> None:
    assert explain_attempt(status_code=None, error="the event no longer exists (retention)") is None
