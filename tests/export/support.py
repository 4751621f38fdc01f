"""What the export tests share: many events seeded through ``record_events``, and the search's own pages."""

from __future__ import annotations

import csv
import io
from typing import Any

from api.models import EventType
from tests.helpers import Api, Key
from tests.test_audit_support import ago, draft, seed

PAGE_QUERY = (
    "query($input: SearchInput!) { searchAuditTrailEntries(input: $input) {"
    " edges { node { id body } } pageInfo { endCursor hasNextPage } } }"
)
ACTIONS = ("stack.create", "stack.update", "policy.attach", "run.finished")


async def seed_many(api: Api, account_id: str, count: int, *, account_name: str = "acme") -> list[str]:
    """``count`` events one second apart, in batches of 1,000 (ingestion's largest batch)."""
    ids: list[str] = []
    for first in range(0, count, 1000):
        drafts = [
            draft(
                ACTIONS[index % len(ACTIONS)],
                f"github::user{index % 7}",
                at=ago(seconds=index + 1),
                event_type=EventType.UPDATE if index % 3 else EventType.CREATE,
                affected=("STACK", f"stack-{index % 11}"),
                data={"index": index, "note": "exported"},
            )
            for index in range(first, min(count, first + 1000))
        ]
        ids += await seed(api.db, account_id, drafts, account_name=account_name)
    return ids


async def search_all(api: Api, key: Key, search_input: dict[str, Any]) -> list[tuple[str, str]]:
    """(id, body) of every entry the search returns for ``search_input``, page after page."""
    found: list[tuple[str, str]] = []
    after: str | None = None
    while True:
        page_input = {**search_input, "first": 500, **({"after": after} if after else {})}
        page = (await api.gql(PAGE_QUERY, {"input": page_input}, token=key.jwt)).ok()["searchAuditTrailEntries"]
        found += [(edge["node"]["id"], edge["node"]["body"]) for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return found
        after = page["pageInfo"]["endCursor"]


def csv_records(content: bytes) -> list[dict[str, str]]:
    """The CSV export read back as a spreadsheet importer would (header row, RFC 4180)."""
    return list(csv.DictReader(io.StringIO(content.decode(), newline="")))
