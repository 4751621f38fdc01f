"""The `audittrail` CLI against the session's PostgreSQL/Redis, as an operator would use it."""

from __future__ import annotations

import asyncio
import re

import pytest
from typer.testing import CliRunner, Result

from api.cli import app
from api.db import Database
from api.settings import Settings
from tests.conftest import TEST_SECRET_KEY
from tests.helpers import Api


@pytest.fixture
def cli(settings: Settings, db: Database) -> CliRunner:
    return CliRunner(
        env={
            "DATABASE_URL": settings.database_url,
            "REDIS_URL": settings.redis_url,
            "AUDITTRAIL_SECRET_KEY": TEST_SECRET_KEY,
        }
    )


def test_accounts_create_then_duplicate_fails(cli: CliRunner) -> None:
    created = cli.invoke(app, ["accounts", "create", "initech"])
    duplicate = cli.invoke(app, ["accounts", "create", "initech"])
    assert created.exit_code == 0, created.output
    assert "created account initech" in created.output
    assert duplicate.exit_code == 1
    assert "already exists" in duplicate.output


def test_bad_account_name_exits_non_zero_with_the_rule(cli: CliRunner) -> None:
    result = cli.invoke(app, ["accounts", "create", "Not_A_Subdomain"])
    assert result.exit_code == 2
    assert "lowercase letters" in result.output


async def test_keys_create_list_revoke_and_login(cli: CliRunner, api: Api) -> None:
    def run(*args: str) -> Result:
        """The CLI runs its own event loop, so it runs beside the test's, in a thread."""
        return cli.invoke(app, list(args))

    assert (await asyncio.to_thread(run, "accounts", "create", "hooli")).exit_code == 0
    created = await asyncio.to_thread(run, "keys", "create", "--account", "hooli", "--role", "reader", "--name", "dash")
    assert created.exit_code == 0, created.output
    key_id = re.search(r"key id:\s+(\S+)", created.output)
    secret = re.search(r"key secret:\s+(\S+)", created.output)
    assert key_id and secret
    token = await api.login(key_id.group(1), secret.group(1))
    viewer = (await api.gql("{ viewer { role account { name } } }", token=token)).ok()["viewer"]
    assert viewer == {"role": "READER", "account": {"name": "hooli"}}

    listed = await asyncio.to_thread(run, "keys", "list", "--account", "hooli")
    assert listed.exit_code == 0 and key_id.group(1) in listed.output and "active" in listed.output
    assert secret.group(1) not in listed.output

    revoked = await asyncio.to_thread(run, "keys", "revoke", key_id.group(1))
    assert revoked.exit_code == 0, revoked.output
    assert (await api.gql("{ viewer { role } }", token=token)).codes == ["UNAUTHENTICATED"]
    assert (await asyncio.to_thread(run, "keys", "revoke", key_id.group(1))).exit_code == 1


def test_keys_create_for_unknown_account_fails(cli: CliRunner) -> None:
    result = cli.invoke(app, ["keys", "create", "--account", "nobody", "--role", "ADMIN", "--name", "x"])
    assert result.exit_code == 1
    assert "does not exist" in result.output


def test_keys_create_with_bad_role_fails(cli: CliRunner) -> None:
    result = cli.invoke(app, ["keys", "create", "--account", "acme", "--role", "ROOT", "--name", "x"])
    assert result.exit_code == 2
    assert "ADMIN, READER, SERVICE" in result.output


def test_migrate_is_idempotent(cli: CliRunner) -> None:
    result = cli.invoke(app, ["migrate"])
    assert result.exit_code == 0, result.output
    assert "up to date" in result.output


def test_export_schema_writes_sdl(cli: CliRunner, tmp_path: pytest.TempPathFactory) -> None:
    target = f"{tmp_path}/schema.graphql"
    result = cli.invoke(app, ["export-schema", "--path", target])
    assert result.exit_code == 0
    with open(target) as handle:
        assert "apiKeyUser(id: ID!, secret: String!): User" in handle.read()


async def test_accounts_created_by_the_cli_keep_events_for_the_configured_default(
    settings: Settings, db: Database, api: Api
) -> None:
    runner = CliRunner(
        env={
            "DATABASE_URL": settings.database_url,
            "REDIS_URL": settings.redis_url,
            "AUDITTRAIL_SECRET_KEY": TEST_SECRET_KEY,
            "AUDITTRAIL_DEFAULT_RETENTION_DAYS": "7",
        }
    )
    created = await asyncio.to_thread(runner.invoke, app, ["accounts", "create", "shortlived"])
    assert created.exit_code == 0, created.output
    key = await api.key("shortlived")
    viewer = (await api.gql("{ viewer { account { retentionDays } } }", token=key.jwt)).ok()["viewer"]
    assert viewer == {"account": {"retentionDays": 7}}
