"""auditTrailRecordEvents: SERVICE/ADMIN ingestion, validated and all-or-nothing."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from api.models import Role
from tests.helpers import Api
from tests.test_audit_support import event_count

RECORD = (
    "mutation($events: [AuditTrailEventInput!]!) { auditTrailRecordEvents(events: $events) {"
    " id action eventType runStateChange actor { username source identity run { id stackId } }"
    " affectedResource { resourceType resourceId } body data context remoteIP timestamp recordedAt } }"
)


def event(**overrides: Any) -> dict[str, Any]:
    return {"action": "stack.create", "actor": "github::alice", "eventType": "CREATE", **overrides}


async def test_service_key_records_events_from_another_service(api: Api) -> None:
    service = await api.key("acme", Role.SERVICE)
    timestamp = int(time.time() * 1000) - 60_000
    events = [
        event(
            affectedResource={"resourceType": "STACK", "resourceId": "prod"},
            context={"source": "vcs"},
            data={"branch": "main"},
            remoteIP="203.0.113.7",
            timestamp=timestamp,
        ),
        event(
            action="run.state_changed",
            actor="spacelift::scheduler",
            eventType="UPDATE",
            runStateChange=True,
            run={"id": "run-7", "stackId": "prod"},
            data='{"state": "FINISHED"}',  # Spacelift clients send data as a JSON string
        ),
    ]
    recorded = (await api.gql(RECORD, {"events": events}, token=service.jwt)).ok()["auditTrailRecordEvents"]

    first, run = recorded
    assert json.loads(first["body"]) == {
        "account": "acme",
        "action": "stack.create",
        "actor": "github::alice",
        "context": {"source": "vcs", "recordedBy": f"api::{service.id}", "recordedAt": first["recordedAt"]},
        "data": {"branch": "main"},
        "remoteIP": "203.0.113.7",
        "timestamp": timestamp,
    }
    assert first["actor"] == {"username": "github::alice", "source": "github", "identity": "alice", "run": None}
    assert first["affectedResource"] == {"resourceType": "STACK", "resourceId": "prod"}
    assert (first["eventType"], first["runStateChange"]) == ("CREATE", False)
    assert first["timestamp"] == timestamp
    assert (run["eventType"], run["runStateChange"]) == ("UPDATE", True)
    assert run["actor"]["run"] == {"id": "run-7", "stackId": "prod"}
    assert run["data"] == {"state": "FINISHED"}
    assert abs(run["timestamp"] - time.time() * 1000) < 60_000
    assert await event_count(api.db, service.account_id) == 3  # the two and the key's login


async def test_ingestion_is_all_or_nothing_on_one_bad_item(api: Api) -> None:
    service = await api.key("acme", Role.SERVICE)
    before = await event_count(api.db)
    events = [event(action=f"stack.e{i}") for i in range(1000)]
    events[500] = event(action="Not An Action")
    result = await api.gql(RECORD, {"events": events}, token=service.jwt)
    assert result.codes == ["BAD_USER_INPUT"]
    assert result.errors[0]["message"].startswith("events[500].action must look like <resource>.<verb>")
    assert await event_count(api.db) == before


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (event(action="stack"), "events[0].action must look like <resource>.<verb>"),
        (event(actor="alice"), "events[0].actor must be source::identity"),
        (event(actor="github::"), "events[0].actor must be source::identity"),
        (event(timestamp=time.time() * 1000 + 3_600_000), "is in the future; at most 300 s of clock skew"),
        (event(timestamp=(time.time() - 40 * 86400) * 1000), "older than this account's retention of 30 days"),
        (event(data=[1, 2]), "events[0].data must be a JSON object"),
        (event(context="{not json"), "events[0].context must be a JSON object (or a string holding one)"),
        (event(data={"blob": "x" * 70_000}), "events[0].data is limited to 65536 bytes"),
        (event(runStateChange=True), "events[0].run {id stackId} is required"),
        (event(run={"id": "r", "stackId": "s"}), "events[0].run is only allowed on run state change events"),
        (
            event(affectedResource={"resourceType": "stack"}),
            "events[0].affectedResource.resourceType must be UPPER_SNAKE",
        ),
        (
            event(relatedResource={"resourceType": "9LIVES"}),
            "events[0].relatedResource.resourceType must be UPPER_SNAKE",
        ),
        (event(remoteIP="not-an-ip"), "events[0].remoteIP must be an IPv4 or IPv6 address"),
    ],
)
async def test_invalid_events_are_refused_with_what_is_allowed(api: Api, bad: dict[str, Any], message: str) -> None:
    service = await api.key("acme", Role.SERVICE)
    result = await api.gql(RECORD, {"events": [bad]}, token=service.jwt)
    assert result.codes == ["BAD_USER_INPUT"]
    assert message in result.errors[0]["message"]


async def test_batches_are_limited_to_1000_events(api: Api) -> None:
    service = await api.key("acme", Role.SERVICE)
    too_many = await api.gql(RECORD, {"events": [event()] * 1001}, token=service.jwt)
    empty = await api.gql(RECORD, {"events": []}, token=service.jwt)
    assert too_many.codes == empty.codes == ["BAD_USER_INPUT"]
    assert "1 to 1000 events per call, got 1001" in too_many.errors[0]["message"]


async def test_event_type_is_required_and_only_spacelifts_three(api: Api) -> None:
    service = await api.key("acme", Role.SERVICE)
    missing = {"action": "stack.create", "actor": "github::alice"}
    for bad, code in ((missing, "GRAPHQL_VALIDATION_FAILED"), (event(eventType="AUDIT"), "GRAPHQL_VALIDATION_FAILED")):
        result = await api.gql(RECORD, {"events": [bad]}, token=service.jwt)
        assert result.codes == [code], result.errors
        assert "eventType" in result.errors[0]["message"]


@pytest.mark.parametrize(
    "action",
    ["api_key.delete", "account.login", "audit_trail.digest", "audit_trail_webhook.set", "saved_filter.create"],
)
async def test_a_service_key_cannot_record_the_services_own_actions(api: Api, action: str) -> None:
    service = await api.key("acme", Role.SERVICE)
    before = await event_count(api.db)
    forged = await api.gql(
        RECORD, {"events": [event(action=action, actor="api::01HADMINKEYADMINKEYADMINK")]}, token=service.jwt
    )
    assert forged.codes == ["FORBIDDEN"]
    assert f"the service's own namespace {action.split('.')[0]}.*" in forged.errors[0]["message"]
    assert await event_count(api.db) == before


async def test_ingested_context_cannot_set_the_keys_the_service_writes(api: Api) -> None:
    service = await api.key("acme", Role.SERVICE)
    for key in ("mutation", "requestId", "userAgent", "command", "recordedBy", "recordedAt", "externalId"):
        forged = await api.gql(RECORD, {"events": [event(context={key: "apiKeyDelete"})]}, token=service.jwt)
        assert forged.codes == ["FORBIDDEN"], key
        assert f"context may not set {key}" in forged.errors[0]["message"]


async def test_every_ingested_event_says_which_key_recorded_it(api: Api) -> None:
    service = await api.key("acme", Role.SERVICE)
    recorded = await api.gql(
        RECORD.replace("remoteIP timestamp", "remoteIP timestamp recordedBy"),
        {"events": [event(context={"source": "vcs"})]},
        token=service.jwt,
    )
    [entry] = recorded.ok()["auditTrailRecordEvents"]
    assert entry["recordedBy"] == f"api::{service.id}"
    assert json.loads(entry["body"])["context"] == {
        "source": "vcs",
        "recordedBy": f"api::{service.id}",
        "recordedAt": entry["recordedAt"],
    }
    own = await api.gql(
        '{ searchAuditTrailEntries(input: {predicates: [{field: "action",'
        ' constraint: {stringMatches: ["account.login"]}}]}) { edges { node { recordedBy } } } }',
        token=(await api.key("acme", Role.READER)).jwt,
    )
    assert {edge["node"]["recordedBy"] for edge in own.ok()["searchAuditTrailEntries"]["edges"]} == {None}
