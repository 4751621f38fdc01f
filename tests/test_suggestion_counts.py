"""The sidebar's counts against the account's rows counted in Python, field by field.

The sidebar's statement counts the total from a field's own groups when that field has no predicate
of its own (``counts_total``), so a NULL group, ties at the 50th value and another account's rows
are each held here against a count that shares no SQL with it.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import Label, select
from sqlmodel import col

from api.audit.query import SEARCH_FIELDS, Constraint, FieldKind, Filters, Predicate, TimeInRange
from api.audit.search import (
    MAX_SUGGESTED_VALUES,
    FieldValues,
    Suggestions,
    counts_total,
    suggestion_plans,
    suggestion_targets,
)
from api.audit.search_raw import suggest_values_on
from api.db import Database
from api.models import AuditEvent, EventType, Role
from tests.helpers import Api, Key
from tests.test_audit_support import ago, draft, seed

FIELDS = {name: field for name, field in SEARCH_FIELDS.items() if field.kind is not FieldKind.TIME}
SINCE = ago(days=2)


@pytest.fixture
async def crowded(api: Api) -> Key:
    """acme's trail: 60 actors, 40 with three events and 20 with two (ties across the 50th value),
    a remote IP on some events only (a NULL group), and a noisy other account."""
    key = await api.key("acme", Role.READER)
    drafts = []
    for number in range(60):
        for repeat in range(3 if number < 40 else 2):
            drafts.append(
                draft(
                    "stack.update" if repeat else "stack.create",
                    f"github::user-{number:02d}",
                    at=ago(days=3 if number % 7 == 0 and repeat == 0 else 1, minutes=number),
                    event_type=EventType.UPDATE if repeat else EventType.CREATE,
                    run_state_change=number % 5 == 0,
                    affected=("stack", f"stack-{number % 4}") if number % 3 else None,
                    remote_ip="10.0.0.1" if number % 2 else None,
                )
            )
    await seed(api.db, key.account_id, drafts)
    other = await api.key("globex", Role.READER)
    await seed(api.db, other.account_id, [draft("stack.update", "github::user-00") for _ in range(30)], "globex")
    return key


FILTERS = [
    Filters(),
    Filters(predicates=[Predicate("action", Constraint(string_matches=["stack.update"]))]),
    Filters(predicates=[Predicate("actor", Constraint(string_matches=["github::user-03"]), exclude=True)]),
    Filters(predicates=[Predicate("createdAt", Constraint(time_in_range=TimeInRange(start=SINCE)))]),
    Filters(
        predicates=[
            Predicate("remoteIP", Constraint(string_matches=["10.0.0.1"])),
            Predicate("eventType", Constraint(enum_equals=["UPDATE"])),
        ]
    ),
]
FIELD_LISTS: list[list[str] | None] = [None, ["actor"], ["remoteIP", "action"], ["action", "actor", "createdAt"]]


def holds(predicate: Predicate, row: dict[str, Any]) -> bool:
    """Whether ``row`` meets ``predicate``: the exact values and ranges these tests use, in Python."""
    constraint, value = predicate.constraint, row[predicate.field]
    if constraint.time_in_range is not None:
        start = constraint.time_in_range.start
        met = start is None or value >= start
    else:
        allowed = constraint.string_matches or constraint.enum_equals or []
        met = value in allowed
    return met != predicate.exclude


def expected(rows: list[dict[str, Any]], filters: Filters, field_names: list[str] | None) -> Suggestions:
    def matching(skip: str | None) -> list[dict[str, Any]]:
        kept = [p for p in filters.predicates if p.field != skip]
        return [row for row in rows if all(holds(p, row) for p in kept)]

    fields = []
    for target in suggestion_targets(field_names):
        if target.kind is FieldKind.TIME:
            fields.append(FieldValues(target.name, target.kind, [], []))
            continue
        counted = Counter(
            str(row[target.name]).lower() if isinstance(row[target.name], bool) else row[target.name]
            for row in matching(target.name)
            if row[target.name] is not None
        )
        top = sorted(counted.items(), key=lambda item: (-item[1], item[0]))[:MAX_SUGGESTED_VALUES]
        fields.append(FieldValues(target.name, target.kind, [v for v, _ in top], [n for _, n in top]))
    return Suggestions(filtered_count=len(matching(None)), fields=fields)


async def account_rows(db: Database, account_id: str) -> list[dict[str, Any]]:
    """Every row of the account, each search field under its GraphQL name."""
    columns: list[Label[Any]] = [field.column.label(name) for name, field in SEARCH_FIELDS.items()]
    statement = select(*columns).where(col(AuditEvent.account_id) == account_id)
    async with db.transaction() as session:
        return [dict(row) for row in (await session.execute(statement)).mappings()]


@pytest.mark.parametrize("field_names", FIELD_LISTS, ids=str)
async def test_the_sidebar_counts_what_python_counts(db: Database, crowded: Key, field_names: list[str] | None) -> None:
    rows = await account_rows(db, crowded.account_id)
    assert len(rows) > 160  # the seeded events and the key's login
    now = datetime.now(SINCE.tzinfo)
    for filters in FILTERS:
        async with db.reader() as reader:
            found = await suggest_values_on(reader, crowded.account_id, filters, field_names, now=now)
        assert found == expected(rows, filters, field_names), (filters, field_names)


async def test_the_fixture_has_ties_across_the_cut_and_a_null_group(db: Database, crowded: Key) -> None:
    """Without these, the test above could not tell the cut or the NULL group wrong."""
    rows = await account_rows(db, crowded.account_id)
    actors = Counter(row["actor"] for row in rows)
    ranked = sorted(actors.values(), reverse=True)
    assert len(actors) > MAX_SUGGESTED_VALUES and ranked[MAX_SUGGESTED_VALUES - 1] == ranked[MAX_SUGGESTED_VALUES]
    assert any(row["remoteIP"] is None for row in rows) and any(row["remoteIP"] for row in rows)


def test_the_total_is_counted_from_the_first_field_without_a_predicate_of_its_own() -> None:
    now = datetime.now(SINCE.tzinfo)
    by_action = Filters(predicates=[Predicate("action", Constraint(string_matches=["stack.update"]))])
    cases = [
        (Filters(), ["createdAt", "action", "actor"], 1),
        (by_action, ["action", "actor"], 1),
        (by_action, ["action"], None),
        (Filters(), ["createdAt"], None),
    ]
    for filters, names, position in cases:
        targets = suggestion_targets(names)
        assert counts_total(suggestion_plans(filters, targets, now=now), targets) == position, (filters, names)
