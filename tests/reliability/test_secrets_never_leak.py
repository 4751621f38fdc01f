"""Secrets: the suite runs with a recognizable webhook secret, custom header value and service key.
This test (last of the folder) adds the paths most likely to echo them (wrong-shaped inputs, failing
and reflecting receivers, every webhook mutation), then greps every GraphQL response the suite saw,
every log line of the API, the workers, PostgreSQL and Redis, and every table: zero occurrences.
"""

from __future__ import annotations

from typing import Any

import httpx

from api.models import Role
from tests.receivers import ReceivedRequest, Reply, running_receiver, unused_port
from tests.reliability.stack import (
    CANARY_HEADER_NAME,
    CANARY_HEADER_VALUE,
    CANARY_SERVICE_KEY,
    CANARY_WEBHOOK_SECRET,
    Stack,
)
from tests.support.processes import stop_process

SET_WEBHOOK = (
    "mutation($input: AuditTrailWebhookInput!) { auditTrailSetWebhook(input: $input) {"
    " enabled endpoint secretSHA customHeaderNames } }"
)
WEBHOOK = (
    "{ auditTrailWebhook { enabled endpoint secretSHA customHeaderNames deliveries(first: 100) {"
    " edges { node { id action status lastError responseSnippet } } } } }"
)


def reflect_everything(request: ReceivedRequest) -> Reply:
    """A receiver that echoes the request's headers in its answer (as echo services do), and fails."""
    echoed = "\n".join(f"{name}: {value}" for name, value in request.headers).encode()
    return Reply(status=500 if b'"stack.' in request.body else 200, body=echoed)


def wrong_shapes(endpoint: str) -> list[dict[str, Any]]:
    """Inputs that graphql-core or our validation refuse, each carrying a canary."""
    valid = {"enabled": True, "endpoint": endpoint, "secret": CANARY_WEBHOOK_SECRET}
    header = {"key": CANARY_HEADER_NAME, "value": CANARY_HEADER_VALUE}
    return [
        {**valid, "unknownField": 1},
        {**valid, "secret": [CANARY_WEBHOOK_SECRET]},
        {**valid, "secret": {"nested": CANARY_WEBHOOK_SECRET}},
        {**valid, "enabled": CANARY_WEBHOOK_SECRET},
        {**valid, "customHeaders": {"entries": [{**header, "extra": CANARY_HEADER_VALUE}]}},
        {**valid, "customHeaders": {"entries": [{"key": CANARY_HEADER_NAME, "value": [CANARY_HEADER_VALUE]}]}},
        {**valid, "customHeaders": {"entries": [{"key": "Bad Name", "value": CANARY_HEADER_VALUE}]}},
        {**valid, "customHeaders": {"entries": [{"key": "X-A", "value": CANARY_HEADER_VALUE + "\r\nX-B: 1"}]}},
        {**valid, "customHeaders": {"entries": [header, header]}},
        {**valid, "secret": CANARY_WEBHOOK_SECRET * 100},
        {"endpoint": endpoint, "secret": CANARY_WEBHOOK_SECRET},
    ]


async def exercise_secret_paths(stack: Stack) -> None:
    tenant = await stack.tenant("secrets")
    admin = tenant.tokens[Role.ADMIN]
    header = {"key": CANARY_HEADER_NAME, "value": CANARY_HEADER_VALUE}
    async with running_receiver(reply_for=reflect_everything) as receiver, httpx.AsyncClient(timeout=30) as client:
        good = {"enabled": True, "endpoint": receiver.url, "secret": CANARY_WEBHOOK_SECRET}
        for variables in wrong_shapes(receiver.url):
            await stack.gql(client, SET_WEBHOOK, {"input": variables}, token=admin)
        await stack.gql(
            client,
            f'mutation {{ auditTrailSetWebhook(input: {{enabled: true, endpoint: {{a: "{CANARY_WEBHOOK_SECRET}"}},'
            f' secret: "{CANARY_WEBHOOK_SECRET}"}}) {{ enabled }} }}',
            token=admin,
        )
        # Verification against nothing listening, and against a receiver that reflects the headers.
        dead = f"http://127.0.0.1:{unused_port()}/hook"
        with_header = {**good, "customHeaders": {"entries": [header]}}
        failed = await stack.gql(client, SET_WEBHOOK, {"input": {**with_header, "endpoint": dead}}, token=admin)
        assert failed.json()["errors"][0]["extensions"]["code"] == "WEBHOOK_VERIFICATION_FAILED"
        ok = await stack.gql(client, SET_WEBHOOK, {"input": with_header}, token=admin)
        assert ok.json()["data"]["auditTrailSetWebhook"]["customHeaderNames"] == [CANARY_HEADER_NAME]
        # The Terraform provider's update: empty secret keeps the stored one.
        await stack.gql(client, SET_WEBHOOK, {"input": {**good, "secret": ""}}, token=admin)
        await stack.gql(client, SET_WEBHOOK, {"input": with_header}, token=admin)
        for mutation in ("auditTrailTestWebhook { id }", "auditTrailDisableWebhook { enabled }"):
            await stack.gql(client, f"mutation {{ {mutation} }}", token=admin)
        await stack.gql(client, "mutation { auditTrailEnableWebhook { enabled } }", token=admin)
        await stack.gql(
            client,
            "mutation($e: [AuditTrailEventInput!]!) { auditTrailRecordEvents(events: $e) { id body } }",
            {"e": [{"action": "stack.create", "actor": "github::alice", "eventType": "CREATE"}]},
            token=tenant.tokens[Role.SERVICE],
        )
        worker = stack.start_worker("secrets")
        try:
            await receiver.wait_for(6, timeout=60)
        finally:
            stop_process(worker)
        log = (await stack.gql(client, WEBHOOK, token=admin)).json()
        delivery_ids = [edge["node"]["id"] for edge in log["data"]["auditTrailWebhook"]["deliveries"]["edges"]]
        for delivery_id in delivery_ids[:2]:
            await stack.gql(
                client,
                "mutation($id: ID!) { auditTrailRedeliver(id: $id) { responseSnippet } }",
                {"id": delivery_id},
                token=admin,
            )
        await stack.gql(client, WEBHOOK, token=admin)
        await stack.gql(client, "mutation { auditTrailDeleteWebhook { secretSHA } }", token=admin)
        # Logins with a canary for a secret, and tokens that are not tokens.
        login = "mutation($id: ID!, $s: String!) { apiKeyUser(id: $id, secret: $s) { jwt } }"
        await stack.gql(client, login, {"id": tenant.key_ids[Role.READER], "s": CANARY_WEBHOOK_SECRET})
        await stack.gql(client, login, {"id": CANARY_HEADER_VALUE, "s": CANARY_WEBHOOK_SECRET})
        await stack.gql(client, "{ viewer { id } }", token=CANARY_SERVICE_KEY)
        await stack.gql(client, "{ viewer { id } }", headers={"Authorization": f"Basic {CANARY_HEADER_VALUE}"})
    assert receiver.requests, "the reflecting receiver got nothing"


def occurrences(needles: dict[str, str], haystacks: dict[str, str]) -> dict[str, list[str]]:
    """For each needle, the haystacks (files, tables) it appears in."""
    return {
        label: [where for where, text in haystacks.items() if needle in text]
        for label, needle in needles.items()
        if any(needle in text for text in haystacks.values())
    }


async def test_no_secret_reaches_a_response_a_log_or_a_table(stack: Stack) -> None:
    await exercise_secret_paths(stack)
    stack.stop_api()  # flushes its log; started again for any test that follows
    try:
        responses = {"graphql responses": stack.responses_file.read_text()}
        logs = {path.name: path.read_text(errors="replace") for path in stack.log_files()}
        tables = {f"table {name}": "\n".join(rows) for name, rows in (await stack.table_dump()).items()}
    finally:
        stack.start_api()
    canaries = {
        "webhook secret": CANARY_WEBHOOK_SECRET,
        "custom header value": CANARY_HEADER_VALUE,
        "service secret key": CANARY_SERVICE_KEY,
    }
    key_secrets = {f"api key secret {n}": secret for n, secret in enumerate(stack.key_secrets) if secret}
    lines = sum(text.count("\n") for text in logs.values())
    rows = sum(text.count("\n") + 1 for text in tables.values())
    print(
        f"\nsecrets scan: {responses['graphql responses'].count(chr(10))} GraphQL responses, {len(logs)} log files"
        f" ({lines} lines), {len(tables)} tables ({rows} rows);"
        f" canaries {len(canaries)}, key secrets {len(key_secrets)}"
    )
    assert occurrences(canaries, {**responses, **logs, **tables}) == {}
    assert occurrences(key_secrets, {**logs, **tables}) == {}
