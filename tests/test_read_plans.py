"""How the hot reads are planned: once per statement for any values, except where the values decide.

The timings behind the choice are in api/raw_reads.py (``READ_SESSION_SETTINGS``); these tests hold
the choice itself, which a refactor of the pool or of ``RawReader.fetch`` could silently undo.
"""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from asyncpg.connection import LoggedQuery
from sqlalchemy import func, select, text

from api.audit.partition_span import DAILY_PARTITIONS
from api.audit.query import Constraint, Filters, Predicate
from api.audit.search import PageRequest
from api.audit.search_raw import search_events_on, suggest_values_on
from api.db import Database
from api.models import Role
from api.raw_reads import RawReader
from tests.helpers import Api

PLAN_CACHE_MODE = select(func.current_setting("plan_cache_mode"))
VALUES_DECIDE = "SET LOCAL plan_cache_mode = auto"


async def plan_cache_mode(reader: RawReader, *, values_decide_plan: bool = False) -> str:
    rows = await reader.fetch(PLAN_CACHE_MODE, values_decide_plan=values_decide_plan)
    return str(rows[0][0])


async def test_the_read_connections_plan_each_statement_once_for_any_values(db: Database) -> None:
    async with db.reader() as reader:
        assert await plan_cache_mode(reader) == "force_generic_plan"


async def test_a_statement_whose_values_decide_its_plan_gets_postgresqls_choice_and_leaves_nothing_behind(
    db: Database,
) -> None:
    async with db.reader() as reader:
        assert await plan_cache_mode(reader, values_decide_plan=True) == "auto"
        assert not reader.connection.is_in_transaction()
        assert await plan_cache_mode(reader) == "force_generic_plan"


async def test_a_failing_statement_whose_values_decide_its_plan_is_rolled_back(db: Database) -> None:
    async with db.reader() as reader:
        with pytest.raises(asyncpg.DivisionByZeroError):
            await reader.fetch(text("SELECT 1 / 0"), values_decide_plan=True)
        assert not reader.connection.is_in_transaction()
        assert await plan_cache_mode(reader) == "force_generic_plan"


async def queries_sent(db: Database, account_id: str, *, filters: Filters, suggestions: bool = False) -> list[str]:
    sent: list[str] = []

    def keep(record: LoggedQuery) -> None:
        sent.append(record.query)

    async with db.reader() as reader:
        reader.connection.add_query_logger(keep)
        try:
            if suggestions:
                await suggest_values_on(reader, account_id, filters)
            else:
                await search_events_on(reader, account_id, filters, PageRequest(first=5))
        finally:
            reader.connection.remove_query_logger(keep)
    await asyncio.sleep(0)  # asyncpg calls its query loggers soon (``call_soon``), not at once
    return sent


async def test_pages_run_on_their_generic_plan_in_one_round_trip(api: Api) -> None:
    key = await api.key("acme", Role.READER)
    async with api.db.reads.connection() as connection:  # the partitions' span: read once a minute
        await DAILY_PARTITIONS.span(connection)
    for filters in (
        Filters(),
        Filters(predicates=[Predicate("action", Constraint(string_matches=["stack.*"]))]),
        Filters(full_text_search="   "),
    ):
        sent = await queries_sent(api.db, key.account_id, filters=filters)
        assert len(sent) == 1 and "audit_events" in sent[0], (filters, sent)


async def test_full_text_searches_and_the_suggestions_let_their_values_decide_the_plan(api: Api) -> None:
    key = await api.key("acme", Role.READER)
    for filters, suggestions in ((Filters(full_text_search="deploy"), False), (Filters(), True)):
        sent = await queries_sent(api.db, key.account_id, filters=filters, suggestions=suggestions)
        assert VALUES_DECIDE in sent[0] and "audit_events" in sent[1] and sent[2] == "COMMIT", sent
