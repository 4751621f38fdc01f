"""At most one transaction per request: the hot reads (identity, search, suggestions) need none, and every
other field of a query shares one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from api.models import Role
from tests.helpers import Api


@pytest.fixture
def transactions_begun() -> Iterator[list[int]]:
    """How many transactions any engine of this process begins meanwhile (the app's included)."""
    begun = [0]

    def count(connection: Connection) -> None:
        begun[0] += 1

    event.listen(Engine, "begin", count)
    try:
        yield begun
    finally:
        event.remove(Engine, "begin", count)


async def test_the_identity_check_search_and_suggestions_open_no_transaction(
    api: Api, transactions_begun: list[int]
) -> None:
    reader = await api.key("acme", Role.READER)
    before = transactions_begun[0]
    result = await api.gql(
        "{ viewer { id } auditTrailRetentionDays searchAuditTrailEntries(input: {first: 5}) { edges { cursor } }"
        ' searchAuditTrailEntriesSuggestions(input: {field: "action"}) { filteredCount } }',
        token=reader.jwt,
    )
    result.ok()
    assert transactions_begun[0] - before == 0


async def test_a_query_with_several_fields_runs_in_one_transaction(api: Api, transactions_begun: list[int]) -> None:
    admin = await api.key("acme", Role.ADMIN)
    before = transactions_begun[0]
    result = await api.gql(
        "{ viewer { id } apiKeys { id } auditTrailWebhook { endpoint } searchAuditTrailEntries(input: {first: 5})"
        " { edges { cursor } } }",
        token=admin.jwt,
    )
    result.ok()
    assert transactions_begun[0] - before == 1


async def test_an_audited_mutation_checks_its_caller_in_its_own_transaction(
    api: Api, transactions_begun: list[int]
) -> None:
    admin = await api.key("acme", Role.ADMIN)
    before = transactions_begun[0]
    (await api.gql("mutation { auditTrailSetRetention(days: 9) { retentionDays } }", token=admin.jwt)).ok()
    assert transactions_begun[0] - before == 1
