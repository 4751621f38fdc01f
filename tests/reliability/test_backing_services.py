"""The API with a backing server away: PostgreSQL down means clear SERVICE_UNAVAILABLE answers and
recovery without a restart; Redis down at start-up means the API starts anyway and nothing is lost."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import psutil

from api.models import Role
from tests.receivers import running_receiver
from tests.reliability.stack import CANARY_WEBHOOK_SECRET, Stack
from tests.support.processes import stop_process

RECORD = "mutation($events: [AuditTrailEventInput!]!) { auditTrailRecordEvents(events: $events) { id } }"
SET_WEBHOOK = "mutation($input: AuditTrailWebhookInput!) { auditTrailSetWebhook(input: $input) { enabled } }"
LOGIN = "mutation($id: ID!, $secret: String!) { apiKeyUser(id: $id, secret: $secret) { jwt } }"


async def test_postgres_down_gives_service_unavailable_then_recovers_without_restart(stack: Stack) -> None:
    tenant = await stack.tenant("pg-down")
    admin, service = tenant.tokens[Role.ADMIN], tenant.tokens[Role.SERVICE]
    calls: dict[str, tuple[str, dict[str, Any], str | None]] = {
        "viewer": ("{ viewer { id } }", {}, admin),
        "search": ("{ searchAuditTrailEntries(input: {}) { edges { cursor } } }", {}, admin),
        "record": (RECORD, {"events": [{"action": "pg.down", "actor": "test::pg", "eventType": "UPDATE"}]}, service),
        "login": (LOGIN, {"id": tenant.key_ids[Role.READER], "secret": "whatever"}, None),
        "retention": ("mutation { auditTrailSetRetention(days: 9) { retentionDays } }", {}, admin),
    }
    async with httpx.AsyncClient(timeout=30) as client:
        await stack.stop_postgres()
        try:
            down = {name: await stack.gql(client, q, v, token=t) for name, (q, v, t) in calls.items()}
            readyz_down = await client.get(f"{stack.url}/readyz")
        finally:
            await stack.start_postgres()
        deadline = time.monotonic() + 30
        while (await client.get(f"{stack.url}/readyz")).status_code != 200:
            assert time.monotonic() < deadline, "the API did not become ready again"
            await asyncio.sleep(0.2)
        up = {name: await stack.gql(client, q, v, token=t) for name, (q, v, t) in calls.items()}
    for name, response in down.items():
        assert response.status_code == 200, (name, response.text)
        body = response.json()
        assert [error["extensions"]["code"] for error in body["errors"]] == ["SERVICE_UNAVAILABLE"], (name, body)
        assert body["errors"][0]["message"] == "a backing service is unavailable; retry shortly"
    assert readyz_down.status_code == 503 and readyz_down.json()["checks"]["database"].startswith("unavailable")
    assert [name for name, response in up.items() if response.json().get("errors")] == ["login"]
    assert up["login"].json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert stack.api_is_alive()


async def test_api_started_without_redis_records_and_nothing_is_lost(stack: Stack) -> None:
    tenant = await stack.tenant("redis-down")
    async with running_receiver() as receiver, httpx.AsyncClient(timeout=30) as client:
        webhook = {"enabled": True, "endpoint": receiver.url, "secret": CANARY_WEBHOOK_SECRET}
        await stack.gql(client, SET_WEBHOOK, {"input": webhook}, token=tenant.tokens[Role.ADMIN])
        stack.stop_api()
        await stack.stop_redis()
        try:
            await asyncio.to_thread(stack.start_api, "/healthz")
            readyz_down = await client.get(f"{stack.url}/readyz")
            events = [
                {"action": "redis.down", "actor": "test::redis", "eventType": "UPDATE", "data": {"n": n}}
                for n in range(5)
            ]
            recorded = await stack.gql(client, RECORD, {"events": events}, token=tenant.tokens[Role.SERVICE])
        finally:
            await stack.start_redis()
        deadline = time.monotonic() + 30
        while (await client.get(f"{stack.url}/readyz")).status_code != 200:
            assert time.monotonic() < deadline, "the API did not reconnect to Redis by itself"
            await asyncio.sleep(0.2)
        worker = stack.start_worker("redis-down")
        try:
            await receiver.wait_for(1 + len(events), timeout=60)
        finally:
            stop_process(worker)
    assert readyz_down.status_code == 503 and readyz_down.json()["checks"]["redis"].startswith("unavailable")
    ids = {entry["id"] for entry in recorded.json()["data"]["auditTrailRecordEvents"]}
    assert len(ids) == len(events)
    assert ids <= {request.header("X-Audit-Event-Id") for request in receiver.requests}


def postgres_processes(stack: Stack) -> list[psutil.Process]:
    """The postmaster and every backend of the stack's cluster."""
    postmaster_pid = int((stack.postgres.pgdata / "postmaster.pid").read_text().split()[0])
    postmaster = psutil.Process(postmaster_pid)
    return [postmaster, *postmaster.children(recursive=True)]


async def test_a_frozen_postgres_gives_service_unavailable_within_seconds_and_loses_nothing(stack: Stack) -> None:
    """SIGSTOP: the server neither answers nor closes connections, the worst a database can do."""
    tenant = await stack.tenant("pg-frozen")
    service, admin = tenant.tokens[Role.SERVICE], tenant.tokens[Role.ADMIN]
    async with httpx.AsyncClient(timeout=60) as client:
        before = await stack.gql(
            client,
            RECORD,
            {"events": [{"action": "frozen.before", "actor": "t::x", "eventType": "CREATE"}]},
            token=service,
        )
        assert before.json()["data"], before.text
        frozen = postgres_processes(stack)
        for process in frozen:
            process.suspend()
        try:
            started = time.monotonic()
            during = await stack.gql(client, "{ viewer { id } }", token=admin)
            answered_in = time.monotonic() - started
            ready_started = time.monotonic()
            readyz = await client.get(f"{stack.url}/readyz")
            ready_in = time.monotonic() - ready_started
        finally:
            for process in frozen:
                process.resume()
        deadline = time.monotonic() + 30
        while (await client.get(f"{stack.url}/readyz")).status_code != 200:
            assert time.monotonic() < deadline, "the API did not become ready after the thaw"
            await asyncio.sleep(0.2)
        after = await stack.gql(
            client,
            RECORD,
            {"events": [{"action": "frozen.after", "actor": "t::x", "eventType": "CREATE"}]},
            token=service,
        )
        found = await stack.gql(
            client,
            '{ searchAuditTrailEntries(input: {fullTextSearch: "frozen"}) { edges { node { action } } } }',
            token=admin,
        )
    print(f"\nfrozen PostgreSQL: request answered in {answered_in:.1f} s, /readyz in {ready_in:.1f} s")
    assert during.status_code == 200 and during.json()["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
    assert answered_in < 5  # the 4 s statement timeout and a prompt close, not the 40 s it used to hang
    assert readyz.status_code == 503 and ready_in < 4
    assert after.json()["data"], after.text
    actions = {edge["node"]["action"] for edge in found.json()["data"]["searchAuditTrailEntries"]["edges"]}
    assert actions == {"frozen.before", "frozen.after"}
