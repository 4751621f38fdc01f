"""The GraphQL examples in the README run as written (those without placeholders)."""

from __future__ import annotations

import re
from pathlib import Path

from api.models import Role
from tests.helpers import Api

README = (Path(__file__).parent.parent / "README.md").read_text()


def runnable_examples() -> list[str]:
    blocks = re.findall(r"```graphql\n(.*?)```", README, flags=re.DOTALL)
    # Subscriptions run over a websocket, not a POST (tests/live runs the live tail).
    return [block for block in blocks if "<" not in block and not block.lstrip().startswith("subscription")]


async def test_readme_graphql_examples_run_without_errors(api: Api) -> None:
    admin = await api.key("acme", Role.ADMIN)
    examples = runnable_examples()
    assert len(examples) >= 3
    for example in examples:
        result = await api.gql(example, token=admin.jwt)
        assert result.errors == [], (example, result.errors)
