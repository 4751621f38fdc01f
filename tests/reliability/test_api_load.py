"""The API under load: 50 concurrent clients of mixed searches and mutations against the real uvicorn
process.  No 5xx, no error at all for valid requests, and every mutation that succeeded has its event;
the API's and the worker's ``/metrics`` moved by what the test counted (``watch.py``).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
from sqlalchemy import text

from api.db import Database
from api.models import Role
from tests.reliability.conftest import sizes
from tests.reliability.stack import Stack, Tenant
from tests.reliability.watch import watched

CLIENTS = 50
SEARCH = (
    "query($input: SearchInput!) { searchAuditTrailEntries(input: $input) {"
    " edges { cursor node { id action actor { username } createdAt } } pageInfo { endCursor hasNextPage } } }"
)
SUGGEST = (
    "query($input: SearchSuggestionsInput!) { searchAuditTrailEntriesSuggestions(input: $input) {"
    " filteredCount fields { name } } }"
)
RECORD = "mutation($events: [AuditTrailEventInput!]!) { auditTrailRecordEvents(events: $events) { id } }"
CREATE_KEY = "mutation($input: ApiKeyCreateInput!) { apiKeyCreate(input: $input) { id } }"
SET_RETENTION = "mutation($days: Int!) { auditTrailSetRetention(days: $days) { retentionDays } }"
SEARCH_INPUTS: list[dict[str, Any]] = [
    {"first": 20},
    {"first": 100, "fullTextSearch": "load"},
    {"predicates": [{"field": "action", "constraint": {"stringMatches": ["load.*"]}}]},
    {"predicates": [{"field": "actor", "constraint": {"stringMatches": ["load::client-1*"]}, "exclude": True}]},
    {"predicates": [{"field": "createdAt", "constraint": {"timeInLast": {"number": 1, "unit": "HOURS"}}}]},
    {"orderBy": {"field": "createdAt", "direction": "ASC"}, "first": 50},
    {"predicates": [{"field": "eventType", "constraint": {"enumEquals": ["CREATE"]}}], "first": 10},
]


@dataclass
class LoadFigures:
    requests: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    error_codes: Counter[str] = field(default_factory=Counter)
    transport_errors: Counter[str] = field(default_factory=Counter)
    recorded_event_ids: set[str] = field(default_factory=set)
    audited_request_ids: set[str] = field(default_factory=set)


async def one_client(
    stack: Stack, client: httpx.AsyncClient, tenant: Tenant, number: int, deadline: float, figures: LoadFigures
) -> None:
    """Bounded: until the deadline or 2,000 requests, whichever comes first."""
    rng = random.Random(number)
    after: str | None = None
    for request_number in range(2_000):
        if time.monotonic() > deadline:
            return
        request_id = f"load-{number}-{request_number}"
        roll = rng.random()
        if roll < 0.40:
            kind, token, query = "search", tenant.tokens[rng.choice([Role.ADMIN, Role.READER])], SEARCH
            search_input = dict(rng.choice(SEARCH_INPUTS))
            if after and rng.random() < 0.3:
                search_input["after"] = after
                search_input.pop("orderBy", None)
            variables: dict[str, Any] = {"input": search_input}
        elif roll < 0.50:
            kind, token, query = "suggestions", tenant.tokens[Role.READER], SUGGEST
            variables = {"input": {"fields": ["action", "actor"]}}
        elif roll < 0.80:
            kind, token, query = "recordEvents", tenant.tokens[Role.SERVICE], RECORD
            variables = {
                "events": [
                    {
                        "action": f"load.step_{rng.randrange(5)}",
                        "actor": f"load::client-{number}",
                        "eventType": "UPDATE",
                        "data": {"n": n},
                    }
                    for n in range(rng.randrange(1, 6))
                ]
            }
        elif roll < 0.90:
            kind, token, query = "apiKeyCreate", tenant.tokens[Role.ADMIN], CREATE_KEY
            variables = {"input": {"name": f"load {request_id}", "role": "READER"}}
        else:
            kind, token, query = "auditTrailSetRetention", tenant.tokens[Role.ADMIN], SET_RETENTION
            variables = {"days": rng.randrange(1, 3651)}
        figures.requests[kind] += 1
        try:
            response = await stack.gql(client, query, variables, token=token, headers={"X-Request-Id": request_id})
        except httpx.HTTPError as error:
            figures.transport_errors[type(error).__name__] += 1
            continue
        figures.statuses[response.status_code] += 1
        body = orjson.loads(response.content) if response.status_code < 500 else {}
        errors = body.get("errors") or []
        figures.error_codes.update(error.get("extensions", {}).get("code", "no code") for error in errors)
        if errors or response.status_code != 200:
            continue
        data = body["data"]
        if kind == "search" and "orderBy" not in variables["input"]:
            after = data["searchAuditTrailEntries"]["pageInfo"]["endCursor"]  # a cursor of the default order
        elif kind == "recordEvents":
            figures.recorded_event_ids.update(entry["id"] for entry in data["auditTrailRecordEvents"])
        elif kind in ("apiKeyCreate", "auditTrailSetRetention"):
            figures.audited_request_ids.add(request_id)


async def stored_facts(stack: Stack, account_id: str, event_ids: set[str]) -> tuple[int, set[str]]:
    """How many of ``event_ids`` exist, and the request ids of the account's audited events."""
    db = Database(stack.database_url, pool_size=1)
    try:
        async with db.transaction() as session:
            found = (
                await session.execute(
                    text("SELECT count(*) FROM audit_events WHERE account_id = :a AND id = ANY(:ids)"),
                    {"a": account_id, "ids": list(event_ids)},
                )
            ).scalar_one()
            request_ids = (
                await session.execute(
                    text(
                        "SELECT context->>'requestId' FROM audit_events WHERE account_id = :a AND context ? 'requestId'"
                    ),
                    {"a": account_id},
                )
            ).scalars()
            return int(found), {str(request_id) for request_id in request_ids}
    finally:
        await db.dispose()


@sizes(10, 60)
async def test_fifty_clients_get_no_5xx_and_lose_no_event(stack: Stack, size: int) -> None:
    tenant = await stack.tenant(f"load-{size}")
    figures = LoadFigures()
    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client, watched(stack, tenant, client) as watch:
        started = time.monotonic()
        await asyncio.gather(*(one_client(stack, client, tenant, n, started + size, figures) for n in range(CLIENTS)))
        elapsed = time.monotonic() - started
        moved = await watch.counter_moves()
        delivered = await watch.delivered_in_database()
    found, request_ids = await stored_facts(stack, tenant.account_id, figures.recorded_event_ids)
    total = sum(figures.requests.values())
    print(
        f"\nload figures: {CLIENTS} clients, {elapsed:.1f} s, {total} requests ({total / elapsed:.0f}/s),"
        f" by kind {dict(figures.requests)}, statuses {dict(figures.statuses)}, error codes"
        f" {dict(figures.error_codes)}, transport errors {dict(figures.transport_errors)},"
        f" events recorded {len(figures.recorded_event_ids)} (found {found}),"
        f" audited mutations {len(figures.audited_request_ids)}"
        f" (lost {len(figures.audited_request_ids - request_ids)})"
    )
    assert stack.api_is_alive()
    assert all(status < 500 for status in figures.statuses), figures.statuses
    assert figures.statuses == Counter({200: total}), figures.statuses
    assert figures.error_codes == Counter(), figures.error_codes
    assert not figures.transport_errors
    assert found == len(figures.recorded_event_ids) > 0
    assert figures.audited_request_ids and figures.audited_request_ids <= request_ids
    # A scrape of /metrics agrees with what the test counted and with what the database holds.
    assert moved.ingested_events == len(figures.recorded_event_ids)
    assert moved.mutation_events == len(figures.audited_request_ids)
    assert moved.delivered_attempts == delivered == len(figures.recorded_event_ids) + len(figures.audited_request_ids)
    assert moved.pending_after == 0
