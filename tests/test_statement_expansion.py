"""A kept statement's ``IN`` lists are expanded once per set of lengths (``StatementCompiler``), and
give exactly what SQLAlchemy's own expansion gives for every request: the text, and the values of
that request in their places."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, bindparam, select, tuple_
from sqlalchemy.dialects.postgresql.asyncpg import dialect

from api.paging import planned_limit
from api.raw_reads import StatementCompiler

EVENTS = Table(
    "events", MetaData(), Column("id", String), Column("action", String), Column("at", DateTime(timezone=True)),
    Column("n", Integer),
)  # fmt: skip
KEPT = (
    select(EVENTS.c.id)
    .where(
        EVENTS.c.action.in_(bindparam("actions", expanding=True)),
        EVENTS.c.n.not_in(bindparam("excluded", expanding=True)),
        EVENTS.c.at >= bindparam("since", type_=EVENTS.c.at.type),
    )
    .limit(planned_limit(51))
)
"""Two lists, a plain value between them and a LIMIT written into the text, as a kept search has."""
AT = datetime(2026, 11, 27, tzinfo=UTC)


def compiler() -> StatementCompiler:
    return StatementCompiler(dialect())  # type: ignore[no-untyped-call]  # SQLAlchemy's dialect class


@pytest.mark.parametrize(
    ("actions", "excluded"),
    [(["a"], [1]), (["b"], [2]), (["a", "b"], [3]), (["c", "d"], [4, 5]), ([], [6]), ([], []), (["e"], [7, 8, 9])],
)
def test_a_kept_expansion_gives_what_sqlalchemy_gives(actions: list[str], excluded: list[int]) -> None:
    kept = compiler()
    warmed = {"actions": ["x"] * len(actions), "excluded": [0] * len(excluded), "since": AT}
    kept.sql_and_arguments(KEPT, warmed, fixed=True)  # the same lengths, other values: kept first
    parameters = {"actions": actions, "excluded": excluded, "since": AT}
    fresh = compiler().sql_and_arguments(KEPT, parameters)  # SQLAlchemy's expansion, nothing kept
    assert kept.sql_and_arguments(KEPT, parameters, fixed=True) == fresh
    assert sorted(map(repr, fresh[1])) == sorted(map(repr, [*actions, *excluded, AT]))  # this request's values


def test_an_expansion_is_kept_per_set_of_lengths_only() -> None:
    kept = compiler()
    for actions in (["a"], ["b"], ["a", "b"], ["c", "d"], ["e"]):
        kept.sql_and_arguments(KEPT, {"actions": actions, "excluded": [1], "since": AT}, fixed=True)
    assert len(kept._expansions) == 2


def test_a_tuple_list_is_expanded_by_sqlalchemy_every_time() -> None:
    pairs = select(EVENTS.c.id).where(tuple_(EVENTS.c.id, EVENTS.c.n).in_(bindparam("pairs", expanding=True)))
    kept = compiler()
    for chosen in ([("a", 1)], [("b", 2)]):
        assert kept.sql_and_arguments(pairs, {"pairs": chosen}, fixed=True) == compiler().sql_and_arguments(
            pairs, {"pairs": chosen}
        )
    assert len(kept._expansions) == 0
