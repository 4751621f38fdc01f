"""The GraphQL examples in the README run as written (those without placeholders)."""

from __future__ import annotations

import re
from pathlib import Path

from graphql import build_schema, parse, validate

from api.models import Role
from tests.helpers import Api

README = (Path(__file__).parent.parent / "README.md").read_text()
SCHEMA_FILE = Path(__file__).parent.parent / "schema.graphql"


def graphql_blocks() -> list[str]:
    return [block for block in re.findall(r"```graphql\n(.*?)```", README, flags=re.DOTALL) if "<" not in block]


def runnable_examples() -> list[str]:
    # Subscriptions run over a websocket, not a POST (tests/live runs the live tail; tests/console GraphiQL's).
    return [block for block in graphql_blocks() if not block.lstrip().startswith("subscription")]


async def test_readme_graphql_examples_run_without_errors(api: Api) -> None:
    admin = await api.key("acme", Role.ADMIN)
    examples = runnable_examples()
    assert len(examples) >= 3
    for example in examples:
        result = await api.gql(example, token=admin.jwt)
        assert result.errors == [], (example, result.errors)


def test_readme_subscription_examples_validate_against_the_schema() -> None:
    schema = build_schema(SCHEMA_FILE.read_text())
    subscriptions = [block for block in graphql_blocks() if block.lstrip().startswith("subscription")]
    assert subscriptions
    for subscription in subscriptions:
        assert validate(schema, parse(subscription)) == [], subscription
