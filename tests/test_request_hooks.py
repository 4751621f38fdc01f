"""The schema's one extension, ``RequestHooks``: built per request (never a shared instance, which
strawberry deprecates and which would mix concurrent requests up), each request answered, coded and
counted as its own, and the rules it adds built once."""

from __future__ import annotations

import asyncio
import warnings

from strawberry.extensions import SchemaExtension

from api.graphql.schema import build_schema
from api.models import Role
from api.settings import Settings
from tests.helpers import Api, GraphQLResult
from tests.support.scrape import scrape

SEARCH = "query { searchAuditTrailEntries(input: {first: 5}) { edges { node { id } } } }"
INVALID_SEARCH = "query { searchAuditTrailEntries(input: {first: 5}) { nope } }"


def test_the_schema_is_given_no_extension_instance(settings: Settings) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        schema = build_schema(settings)
    assert not [warning for warning in caught if "extension instance" in str(warning.message)]
    assert schema.extensions and not [ext for ext in schema.extensions if isinstance(ext, SchemaExtension)]


async def test_a_document_is_validated_once_whatever_the_request(settings: Settings) -> None:
    """``ValidatedDocuments`` keeps a document's validation by the rules it ran: rules built per
    request would never find it again."""
    schema = build_schema(settings.model_copy(update={"introspection": False}))
    for _ in range(3):
        assert (await schema.execute("{ __typename }")).data == {"__typename": "Query"}
    assert len(schema.checks.validated) == 1
    refused = await schema.execute("{ __schema { types { name } } }")
    assert refused.errors and "introspection" in refused.errors[0].message.lower()
    assert len(schema.checks.validated) == 2


async def test_concurrent_requests_each_get_their_own_answer_code_and_count(api: Api) -> None:
    reader = await api.key("acme", Role.READER)
    before = await scrape(api.client, "/metrics")
    kinds = ["ok", "UNAUTHENTICATED", "GRAPHQL_VALIDATION_FAILED"] * 8

    async def ask(kind: str) -> GraphQLResult:
        if kind == "UNAUTHENTICATED":
            return await api.gql(SEARCH, token="not-a-token")
        return await api.gql(SEARCH if kind == "ok" else INVALID_SEARCH, token=reader.jwt)

    answers = await asyncio.gather(*(ask(kind) for kind in kinds))

    for kind, answer in zip(kinds, answers, strict=True):
        assert answer.codes == ([] if kind == "ok" else [kind]), (kind, answer.json)
        assert (answer.data is not None) == (kind == "ok")
    after = await scrape(api.client, "/metrics")
    for code in ("ok", "UNAUTHENTICATED", "GRAPHQL_VALIDATION_FAILED"):
        labels = dict(operation="searchAuditTrailEntries", code=code)
        counted = after.value("audittrail_graphql_requests_total", **labels) - before.value(
            "audittrail_graphql_requests_total", **labels
        )
        assert counted == 8, code
