"""Parsed documents are kept by their text and reused; a document that does not parse is never kept
and answers the same error as before."""

from __future__ import annotations

from graphql import parse

from api.graphql.parsed_documents import DocumentCache
from api.graphql.schema import build_schema
from api.settings import Settings

TYPENAME = "{ __typename }"


async def test_a_document_is_parsed_once_and_reused(settings: Settings) -> None:
    schema = build_schema(settings)
    first = await schema.execute(TYPENAME)
    kept = schema.documents.get(TYPENAME)
    second = await schema.execute(TYPENAME)
    assert first.data == second.data == {"__typename": "Query"}
    assert kept is not None
    assert schema.documents.get(TYPENAME) is kept


async def test_a_document_that_does_not_parse_is_not_kept_and_errs_as_before(settings: Settings) -> None:
    schema = build_schema(settings)
    broken = "{ viewer { "
    too_long = "{ " + "__typename " * (settings.max_query_tokens + 1) + "}"
    for query in (broken, broken, too_long, too_long):
        result = await schema.execute(query)
        assert result.errors and result.errors[0].message.startswith("Syntax Error")
    assert schema.documents.get(broken) is None
    assert schema.documents.get(too_long) is None
    assert len(schema.documents) == 0


def test_the_cache_keeps_the_most_recently_used_documents() -> None:
    cache = DocumentCache(maxsize=2)
    for text in ("{ a }", "{ b }"):
        cache.put(text, parse(text))
    assert cache.get("{ a }") is not None  # now the most recent
    cache.put("{ c }", parse("{ c }"))
    assert [cache.get(text) is not None for text in ("{ a }", "{ b }", "{ c }")] == [True, False, True]
