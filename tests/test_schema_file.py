"""The checked-in schema.graphql is what the code exports: clients and CI rely on it."""

from __future__ import annotations

from pathlib import Path

from api.graphql.schema import schema_sdl

SCHEMA_FILE = Path(__file__).parent.parent / "schema.graphql"


def test_schema_graphql_is_up_to_date() -> None:
    assert SCHEMA_FILE.read_text() == schema_sdl(), "run `make schema` (audittrail export-schema) and commit"
