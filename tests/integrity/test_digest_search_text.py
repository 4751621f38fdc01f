"""A digest event's listing of the events it covers is not search text (every digest part would
cost PostgreSQL ~100 ms of trigram extraction and match any hex search); its own fields are, and
full-text searches still use the trigram index, whose expression the search repeats verbatim."""

from __future__ import annotations

import json
import re
from typing import Any

from sqlalchemy import text

from api import integrity
from api.audit.query import SEARCH_TEXT_SQL
from api.db import Database
from api.models import Role
from tests.helpers import Api
from tests.integrity.support import digest_everything, seed_trail

SEARCH = """query($input: SearchInput!) {
  searchAuditTrailEntries(input: $input) { edges { node { id action } } } }"""


async def found(api: Api, token: str, words: str) -> list[tuple[str, str]]:
    result = await api.gql(SEARCH, {"input": {"fullTextSearch": words}}, token=token)
    return [(edge["node"]["id"], edge["node"]["action"]) for edge in result.ok()["searchAuditTrailEntries"]["edges"]]


async def test_a_digest_is_found_by_its_own_fields_and_not_by_the_events_it_lists(
    api: Api, db: Database, settings: Any
) -> None:
    reader = await api.key("acme", Role.READER)
    trail = await seed_trail(db, "acme", count=3)
    await digest_everything(db, integrity.KeyRing.from_settings(settings).signing_key)
    async with db.transaction() as session:
        rows = (
            await session.execute(
                text("SELECT id, data::text AS data FROM audit_events WHERE action = 'audit_trail.digest' "
                     "AND account_id = :a AND jsonb_array_length(data->'events') > 0"),
                {"a": trail.account_id},
            )
        ).all()  # fmt: skip
    # The trail's events may fall into two intervals on a loaded machine: any digest listing one will do.
    row, digest = next((row, json.loads(row.data)) for row in rows if trail.event_ids[0] in row.data)
    listed_id, listed_hash = next(pair for pair in digest["events"] if pair[0] == trail.event_ids[0])

    assert await found(api, reader.jwt, digest["digestId"]) == [(row.id, "audit_trail.digest")]
    assert await found(api, reader.jwt, digest["signature"][:40]) == [(row.id, "audit_trail.digest")]
    # The hash appears in no searchable text: not the listed event's own, and no longer the digest's.
    assert await found(api, reader.jwt, listed_hash) == []
    assert await found(api, reader.jwt, listed_id) == []


async def test_full_text_search_text_is_the_trigram_index_expression(db: Database) -> None:
    async with db.transaction() as session:
        await session.execute(text("SET LOCAL enable_seqscan = off"))
        plan = (
            await session.execute(
                text(f"EXPLAIN (FORMAT JSON) SELECT id FROM audit_events WHERE {SEARCH_TEXT_SQL} LIKE '%plan%'")
            )
        ).scalar_one()
    index_names = re.findall(r'"Index Name": "([^"]+)"', json.dumps(plan))
    assert index_names, plan
    async with db.transaction() as session:
        definitions = (
            await session.execute(
                text("SELECT indexdef FROM pg_indexes WHERE indexname = ANY(:names)"), {"names": index_names}
            )
        ).scalars().all()  # fmt: skip
    assert definitions and all("gin_trgm_ops" in definition for definition in definitions)
