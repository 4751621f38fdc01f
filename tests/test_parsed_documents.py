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


async def test_a_documents_validation_is_kept_and_each_request_answers_as_the_first() -> None:
    """Validation (and the size check before it) runs once per parsed document: a refused, an invalid
    and a valid document each answer their second and third request exactly as their first."""
    schema = build_schema(Settings.model_validate({"max_query_fields": 3}))
    documents = ["{ a b c d }", "{ viewer { nope } }", "{ __typename }"]
    for document in documents:
        answers = [(await schema.execute(document)) for _ in range(3)]
        formatted = [([e.formatted for e in answer.errors or []], answer.data) for answer in answers]
        assert formatted[0] == formatted[1] == formatted[2]
    refused, invalid, valid = [(await schema.execute(d)) for d in documents]
    assert refused.errors and refused.errors[0].message == (
        "the document is too large to validate: 4 fields (at most 3)"
    )
    assert invalid.errors and "Cannot query field 'nope'" in invalid.errors[0].message
    assert valid.errors is None and valid.data == {"__typename": "Query"}
