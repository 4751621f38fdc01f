"""Dockerfile and docker-compose.yml stay in step with the CLI (no Docker daemon here to build them)."""

from __future__ import annotations

import json
import shlex
import tomllib
from pathlib import Path

import yaml
from typer.testing import CliRunner

from api.cli import app

ROOT = Path(__file__).parent.parent


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    logical: list[str] = []
    pending = ""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    return [(text.split(None, 1)[0].upper(), text.split(None, 1)[1]) for text in logical]


def exec_form(arguments: str) -> list[str]:
    parsed = json.loads(arguments)
    assert isinstance(parsed, list)
    return [str(item) for item in parsed]


def assert_cli_accepts(command: list[str]) -> None:
    """The command names our console script, and its subcommand and options exist."""
    assert command[0] == "audittrail"
    subcommand = [part for part in command[1:] if not part.startswith("-")][:1]
    help_text = CliRunner().invoke(app, [*subcommand, "--help"], env={"COLUMNS": "200"}).output
    for option in (part for part in command[1:] if part.startswith("--")):
        assert option in help_text, f"{option} is not an option of `audittrail {subcommand[0]}`"


def test_dockerfile_is_slim_non_root_and_serves() -> None:
    instructions = dockerfile_instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim")
    users = [args for name, args in instructions if name == "USER"]
    assert users and users[-1] not in ("root", "0")
    command = exec_form(next(args for name, args in instructions if name == "CMD"))
    assert command[:2] == ["audittrail", "serve"]
    assert_cli_accepts(command)


def test_dockerfile_copies_what_exists_and_installs_the_console_script() -> None:
    for name, args in dockerfile_instructions():
        if name == "COPY":
            *sources, _ = shlex.split(args)
            for source in sources:
                assert (ROOT / source).exists(), f"COPY source {source} is missing"
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["audittrail"] == "api.cli:app"


def test_compose_services_run_real_cli_commands() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert services["postgres"]["image"].startswith("postgres:18")
    assert services["redis"]["image"].startswith("redis:7")
    for name in ("api", "worker"):
        assert_cli_accepts(services[name]["command"])
        assert {"DATABASE_URL", "REDIS_URL", "AUDITTRAIL_SECRET_KEY"} <= set(services[name]["environment"])
