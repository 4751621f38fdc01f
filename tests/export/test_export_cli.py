"""``audittrail export``: the same bytes as ``/export`` for the same filters, to a file or stdout."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner, Result

from api.cli import app
from api.db import Database
from api.models import Role
from api.settings import Settings
from tests.conftest import TEST_SECRET_KEY
from tests.export.support import csv_records, seed_many
from tests.helpers import Api
from tests.test_audit_support import predicate


@pytest.fixture
def cli(settings: Settings, db: Database) -> CliRunner:
    return CliRunner(
        env={
            "DATABASE_URL": settings.database_url,
            "REDIS_URL": settings.redis_url,
            "AUDITTRAIL_SECRET_KEY": TEST_SECRET_KEY,
        }
    )


async def run(cli: CliRunner, *args: str) -> Result:
    """The CLI runs its own event loop, so it runs beside the test's, in a thread."""
    return await asyncio.to_thread(cli.invoke, app, ["export", *args])


async def test_cli_export_with_filters_and_range_equals_the_route(cli: CliRunner, api: Api, tmp_path: Path) -> None:
    key = await api.key("acme", Role.READER)
    await seed_many(api, key.account_id, 1_200)
    newest = orjson.loads(
        (await api.client.get("/export", headers={"Authorization": f"Bearer {key.jwt}"})).content.split(b"\n")[1]
    )
    start, end = newest["timestamp"] // 1000 - 600, newest["timestamp"] // 1000 - 60
    search_input = {
        "predicates": [
            predicate("action", stringMatches=["stack.*"]),
            predicate("eventType", enumEquals=["UPDATE"]),
            predicate("createdAt", timeInRange={"start": start, "end": end}),
        ]
    }
    from_route = await api.client.get(
        "/export",
        params={"format": "csv", "input": orjson.dumps(search_input).decode()},
        headers={"Authorization": f"Bearer {key.jwt}"},
    )
    iso = "%Y-%m-%dT%H:%M:%S"
    output = tmp_path / "out.csv"
    result = await run(
        cli,
        "--account", "acme", "--format", "csv",
        "--from", datetime.fromtimestamp(start, UTC).strftime(iso),
        "--to", datetime.fromtimestamp(end, UTC).strftime(iso),
        "--filter", "action=stack.*", "--filter", "eventType=UPDATE",
        "-o", str(output),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    records = csv_records(output.read_bytes())
    assert 0 < len(records) < 540 and output.read_bytes() == from_route.content
    assert f"exported {len(records)} events to {output}" in " ".join(result.output.split())  # rich may wrap


async def test_cli_export_to_stdout_and_its_refusals(cli: CliRunner, api: Api) -> None:
    key = await api.key("acme", Role.READER)
    await seed_many(api, key.account_id, 10)
    printed = await run(cli, "--account", "acme", "--filter", "actor=github::user1")
    assert printed.exit_code == 0, printed.output
    assert [orjson.loads(line)["actor"] for line in printed.stdout.splitlines()] == ["github::user1"] * 2
    unknown = await run(cli, "--account", "nobody")
    assert unknown.exit_code == 1 and "no account named 'nobody'" in unknown.output
    bad_field = await run(cli, "--account", "acme", "--filter", "colour=red")
    assert bad_field.exit_code == 1 and "unknown field 'colour'" in bad_field.output
    bad_boolean = await run(cli, "--account", "acme", "--filter", "runStateChange=maybe")
    assert bad_boolean.exit_code == 1 and "runStateChange takes true or false" in bad_boolean.output
