"""Every delivery verifies with verifiers that share no code with ours: GitHub's recipe and the
``standardwebhooks`` package; a tampered body or a wrong secret verifies with neither."""

from __future__ import annotations

import httpx

from api.models import Role
from tests.receivers import running_receiver
from tests.reliability.stack import CANARY_WEBHOOK_SECRET, Stack
from tests.reliability.verifiers import verify_github, verify_standard_webhooks
from tests.support.processes import stop_process

SET_WEBHOOK = "mutation($input: AuditTrailWebhookInput!) { auditTrailSetWebhook(input: $input) { enabled } }"
RECORD = "mutation($events: [AuditTrailEventInput!]!) { auditTrailRecordEvents(events: $events) { id } }"
EVENTS = [
    {"action": "stack.create", "actor": "github::alice", "eventType": "CREATE"},
    {
        "action": "stack.update",
        "actor": "github::zoë",
        "eventType": "UPDATE",
        "data": {"emoji": "🚀", "quote": "\"'\\", "nested": [1, {"a": None}]},
    },
    {
        "action": "run.finished",
        "actor": "spacelift::run",
        "eventType": "UPDATE",
        "runStateChange": True,
        "run": {"id": "r1", "stackId": "s1"},
    },
    {
        "action": "policy.attach",
        "actor": "api::x",
        "eventType": "UPDATE",
        "context": {"line\nbreak": "tab\tand \u2028 separator"},
    },
]


async def test_every_delivery_verifies_with_github_and_standard_webhooks(stack: Stack) -> None:
    tenant = await stack.tenant("signatures")
    async with running_receiver() as receiver, httpx.AsyncClient(timeout=30) as client:
        webhook = {"enabled": True, "endpoint": receiver.url, "secret": CANARY_WEBHOOK_SECRET, "includeRuns": True}
        set_up = await stack.gql(client, SET_WEBHOOK, {"input": webhook}, token=tenant.tokens[Role.ADMIN])
        assert set_up.json() == {"data": {"auditTrailSetWebhook": {"enabled": True}}}
        tested = await stack.gql(
            client, "mutation { auditTrailTestWebhook { status } }", token=tenant.tokens[Role.ADMIN]
        )
        assert tested.json() == {"data": {"auditTrailTestWebhook": {"status": "DELIVERED"}}}
        recorded = await stack.gql(client, RECORD, {"events": EVENTS}, token=tenant.tokens[Role.SERVICE])
        assert len(recorded.json()["data"]["auditTrailRecordEvents"]) == len(EVENTS)
        worker = stack.start_worker("signatures")
        try:
            await receiver.wait_for(2 + len(EVENTS), timeout=60)
        finally:
            stop_process(worker)
    requests = receiver.requests
    assert len({request.header("X-Audit-Event-Id") for request in requests}) == 2 + len(EVENTS)
    for request in requests:
        assert verify_github(CANARY_WEBHOOK_SECRET, request.body, request.header("X-Signature-256")), request.body
        assert verify_standard_webhooks(CANARY_WEBHOOK_SECRET, request.body, request.headers), request.body
        tampered = request.body.replace(b'"account"', b'"acc0unt"')
        assert not verify_github(CANARY_WEBHOOK_SECRET, tampered, request.header("X-Signature-256"))
        assert not verify_standard_webhooks(CANARY_WEBHOOK_SECRET, tampered, request.headers)
        assert not verify_github("another-secret", request.body, request.header("X-Signature-256"))
        assert not verify_standard_webhooks("another-secret", request.body, request.headers)
    print(f"\nsignatures: {len(requests)} deliveries verified by GitHub's recipe and standardwebhooks")
