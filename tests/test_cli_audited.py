"""What an operator changes with the CLI is in the account's trail, as ``cli::<OS user>``, and
reaches its webhook like any other event."""

from __future__ import annotations

import asyncio
import getpass
import re
from typing import Any

import orjson
import pytest
from sqlalchemy import text
from typer.testing import CliRunner, Result

from api.cli import app
from api.models import Role
from api.settings import Settings
from tests.conftest import TEST_SECRET_KEY
from tests.helpers import Api
from tests.receivers import SET_WEBHOOK, Receiver, webhook_input
from tests.test_audit_support import ago, draft, seed

ENTRIES = """
query($action: String!) {
  searchAuditTrailEntries(input: {predicates: [{field: "action", constraint: {stringMatches: [$action]}}]}) {
    edges { node { id actor { username } recordedBy affectedResource { resourceType resourceId } body } }
  }
}
"""
OPERATOR = f"cli::{getpass.getuser()}"


@pytest.fixture
def cli(settings: Settings) -> CliRunner:
    return CliRunner(
        env={
            "DATABASE_URL": settings.database_url,
            "REDIS_URL": settings.redis_url,
            "AUDITTRAIL_SECRET_KEY": TEST_SECRET_KEY,
        }
    )


async def run(cli: CliRunner, *args: str) -> Result:
    """The CLI runs its own event loop, so it runs beside the test's, in a thread."""
    result = await asyncio.to_thread(cli.invoke, app, list(args))
    return result


async def entries(api: Api, account: str, action: str) -> list[dict[str, Any]]:
    reader = await api.key(account, Role.READER)
    found = (await api.gql(ENTRIES, {"action": action}, token=reader.jwt)).ok()
    return [edge["node"] for edge in found["searchAuditTrailEntries"]["edges"]]


async def event_count(api: Api) -> int:
    async with api.db.transaction() as session:
        return int((await session.execute(text("SELECT count(*) FROM audit_events"))).scalar_one())


async def test_accounts_and_keys_changed_from_the_cli_are_events_of_the_os_user(cli: CliRunner, api: Api) -> None:
    assert (await run(cli, "accounts", "create", "hooli")).exit_code == 0
    created = await run(cli, "keys", "create", "--account", "hooli", "--role", "admin", "--name", "break-glass")
    assert created.exit_code == 0, created.output
    key_id = re.search(r"key id:\s+(\S+)", created.output)
    secret = re.search(r"key secret:\s+(\S+)", created.output)
    assert key_id and secret
    revoked = await run(cli, "keys", "revoke", key_id.group(1))
    assert revoked.exit_code == 0, revoked.output

    [account_event] = await entries(api, "hooli", "account.create")
    [create_event] = await entries(api, "hooli", "api_key.create")
    [revoke_event] = await entries(api, "hooli", "api_key.delete")
    for event in (account_event, create_event, revoke_event):
        assert event["actor"] == {"username": OPERATOR} and event["recordedBy"] is None
    assert create_event["affectedResource"] == {"resourceType": "API_KEY", "resourceId": key_id.group(1)}
    assert revoke_event["affectedResource"] == create_event["affectedResource"]
    body = orjson.loads(create_event["body"])
    assert body["actor"] == OPERATOR
    assert body["context"] == {"command": "keys create"}
    assert body["data"] == {"args": {"Account": "hooli", "Name": "break-glass", "Role": "ADMIN"}}
    assert secret.group(1) not in create_event["body"]
    assert orjson.loads(revoke_event["body"])["data"] == {"args": {"ID": key_id.group(1)}}


async def test_a_refused_cli_command_records_nothing(cli: CliRunner, api: Api) -> None:
    await api.account("acme")
    before = await event_count(api)

    unknown_account = await run(cli, "keys", "create", "--account", "nobody", "--role", "ADMIN", "--name", "x")
    unknown_key = await run(cli, "keys", "revoke", "01HNOSUCHKEYNOSUCHKEYNOSUC")
    duplicate = await run(cli, "accounts", "create", "acme")

    assert [unknown_account.exit_code, unknown_key.exit_code, duplicate.exit_code] == [1, 1, 1]
    assert await event_count(api) == before


async def test_a_key_created_from_the_cli_is_delivered_to_the_accounts_webhook(
    cli: CliRunner, api: Api, receiver: Receiver, worker: None
) -> None:
    admin = await api.key("acme", Role.ADMIN)
    (await api.gql(SET_WEBHOOK, {"input": webhook_input(receiver.url)}, token=admin.jwt)).ok()

    created = await run(cli, "keys", "create", "--account", "acme", "--role", "SERVICE", "--name", "ci")
    assert created.exit_code == 0, created.output

    await receiver.wait_for(2)
    delivered = orjson.loads(receiver.requests[1].body)
    assert (delivered["action"], delivered["actor"]) == ("api_key.create", OPERATOR)
    secret = re.search(r"key secret:\s+(\S+)", created.output)
    assert secret and secret.group(1).encode() not in receiver.requests[1].body


async def test_a_retention_run_from_the_cli_is_an_event_in_every_account(cli: CliRunner, api: Api) -> None:
    acme = await api.account("acme")
    await api.account("globex")
    await seed(api.db, acme, [draft(at=ago(days=35)), draft(at=ago(days=1))])

    result = await run(cli, "retention", "run", "--batch-size", "100")
    assert result.exit_code == 0, result.output

    [acme_run] = await entries(api, "acme", "audit_trail.apply_retention")
    [globex_run] = await entries(api, "globex", "audit_trail.apply_retention")
    assert acme_run["actor"] == {"username": OPERATOR} and acme_run["affectedResource"]["resourceId"] == acme
    acme_data = orjson.loads(acme_run["body"])["data"]
    assert acme_data["args"] == {"BatchSize": 100}
    assert acme_data["result"]["DeletedEvents"] == 1 and acme_data["result"]["RetentionDays"] == 30
    assert orjson.loads(globex_run["body"])["data"]["result"]["DeletedEvents"] == 0
