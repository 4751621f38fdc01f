"""The schema's one extension, ``RequestHooks``: built per request (never a shared instance, which
strawberry deprecates and which would mix concurrent requests up), each request answered, coded and
counted as its own, and the rules it adds built once."""

from __future__ import annotations

import asyncio
import warnings
from functools import partial

import strawberry
from strawberry.extensions import SchemaExtension
from strawberry.schema.config import StrawberryConfig

from api.graphql.request_hooks import RequestChecks, RequestHooks
from api.graphql.scalars import SCALARS
from api.graphql.schema import Mutation, Query, build_schema
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


async def test_strawberrys_own_runner_drives_the_same_steps(settings: Settings) -> None:
    """A schema given other extensions besides falls back to strawberry's runner and the generator
    hooks: every kind of answer (valid, refused by the limits, too deep, invalid, unparsable) is the same."""
    limited = settings.model_copy(update={"max_query_fields": 3, "max_query_depth": 1})
    ours = build_schema(limited)
    plain = strawberry.Schema(
        query=Query,
        mutation=Mutation,
        extensions=[partial(RequestHooks, RequestChecks.of(limited))],
        config=StrawberryConfig(scalar_map=SCALARS),
    )
    documents = ["{ __typename }", "{ a b c d }", "{ viewer { account { id } } }", "{ viewer { nope } }", "{ viewer {"]
    for document in documents:
        expected, got = await ours.execute(document), await plain.execute(document)
        assert [e.formatted for e in got.errors or []] == [e.formatted for e in expected.errors or []], document
        assert got.data == expected.data
    too_deep = await ours.execute(documents[2])
    assert too_deep.errors and "maximum operation depth of 1" in too_deep.errors[0].message
