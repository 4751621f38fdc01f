"""timeInRange: unix seconds as Spacelift sends them, ISO 8601 date-times past 2038 and below the
second, and a message that says so when milliseconds land in a seconds field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from api.models import Role
from tests.helpers import Api, Key
from tests.test_audit_support import SEARCH, ago, draft, predicate, seed

EXACT = datetime(2026, 11, 20, 8, 30, 15, 123_000, tzinfo=UTC)
LITERAL_MILLISECONDS = (
    '{ searchAuditTrailEntries(input: {predicates: [{field: "createdAt",'
    " constraint: {timeInRange: {start: 1764144000000}}}]}) { edges { cursor } } }"
)


@pytest.fixture
async def reader(api: Api) -> Key:
    """A READER of acme with one event at an exact millisecond, one a day before and one now."""
    key = await api.key("acme", Role.READER)
    await seed(
        api.db,
        key.account_id,
        [
            draft("stack.create", at=EXACT - timedelta(days=1)),
            draft("stack.update", at=EXACT),
            draft("stack.delete", at=ago(minutes=1)),
        ],
    )
    return key


async def actions_in(api: Api, reader: Key, time_in_range: dict[str, Any]) -> list[str]:
    found = await api.gql(
        SEARCH, {"input": {"predicates": [predicate("createdAt", timeInRange=time_in_range)]}}, token=reader.jwt
    )
    return [edge["node"]["action"] for edge in found.ok()["searchAuditTrailEntries"]["edges"]]


async def test_iso_8601_ends_are_inclusive_to_the_millisecond(api: Api, reader: Key) -> None:
    at_exact = {"startAt": "2026-11-20T08:30:15.123Z", "endAt": "2026-11-20T09:30:15.123+01:00"}
    just_before = {"endAt": "2026-11-20T08:30:15.122Z"}
    just_after = {"startAt": "2026-11-20T08:30:15.124Z", "endAt": "2026-11-21T00:00:00Z"}

    assert await actions_in(api, reader, at_exact) == ["stack.update"]
    assert await actions_in(api, reader, just_before) == ["stack.create"]
    assert await actions_in(api, reader, just_after) == []


async def test_seconds_still_take_the_whole_end_second(api: Api, reader: Key) -> None:
    second = int(EXACT.timestamp())
    assert await actions_in(api, reader, {"start": second, "end": second}) == ["stack.update"]
    assert await actions_in(api, reader, {"start": second - 86_400, "endAt": "2026-11-20T08:30:15Z"}) == [
        "stack.create"
    ]


async def test_a_range_past_2038_is_accepted(api: Api, reader: Key) -> None:
    assert await actions_in(api, reader, {"startAt": "2020-01-01T00:00:00Z", "endAt": "2040-01-01T00:00:00Z"}) == [
        "account.login",  # the reader's own
        "stack.delete",
        "stack.update",
        "stack.create",
    ]
    assert await actions_in(api, reader, {"startAt": "2039-01-19T00:00:00Z"}) == []


@pytest.mark.parametrize(
    ("time_in_range", "message"),
    [
        ({"start": 1_700_000_000, "startAt": "2026-11-20T08:30:15Z"}, "takes start (unix seconds) or startAt"),
        ({"endAt": "2026-11-20T08:30:15"}, "endAt needs its offset (2026-11-26T08:00:00Z or +01:00)"),
        ({"startAt": "2026-11-21T00:00:00Z", "endAt": "2026-11-20T00:00:00Z"}, "must not be after its end"),
    ],
)
async def test_a_bad_range_says_what_is_allowed(
    api: Api, reader: Key, time_in_range: dict[str, Any], message: str
) -> None:
    refused = await api.gql(
        SEARCH, {"input": {"predicates": [predicate("createdAt", timeInRange=time_in_range)]}}, token=reader.jwt
    )
    assert refused.codes == ["BAD_USER_INPUT"]
    assert message in refused.errors[0]["message"]


async def test_a_date_time_that_is_not_iso_8601_is_refused(api: Api, reader: Key) -> None:
    refused = await api.gql(
        SEARCH,
        {"input": {"predicates": [predicate("createdAt", timeInRange={"startAt": "last tuesday"})]}},
        token=reader.jwt,
    )
    assert refused.codes == ["GRAPHQL_VALIDATION_FAILED"]
    assert "startAt" in refused.errors[0]["message"]


async def test_milliseconds_in_a_seconds_field_get_a_message_saying_so(api: Api, reader: Key) -> None:
    as_variable = await api.gql(
        SEARCH,
        {"input": {"predicates": [predicate("createdAt", timeInRange={"start": 1_764_144_000_000})]}},
        token=reader.jwt,
    )
    as_literal = await api.gql(LITERAL_MILLISECONDS, token=reader.jwt)

    for refused in (as_variable, as_literal):
        assert refused.codes == ["GRAPHQL_VALIDATION_FAILED"]
        message = refused.errors[0]["message"]
        assert "Int cannot represent non 32-bit signed integer value." in message
        assert "looks like milliseconds: timeInRange's start and end take unix seconds; give startAt/endAt" in message


async def test_a_large_int_that_is_not_milliseconds_gets_no_hint(api: Api, reader: Key) -> None:
    refused = await api.gql(SEARCH, {"input": {"first": 3_000_000_000}}, token=reader.jwt)
    assert refused.codes == ["GRAPHQL_VALIDATION_FAILED"]
    assert "milliseconds" not in refused.errors[0]["message"]
