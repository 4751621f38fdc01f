"""The export's ``COPY`` is never planned in parallel.

With parallel plans made as cheap as they get, PostgreSQL scans the partitions in workers, sorts
and gathers: the plan the CSV's cells once tipped a 100,000-event export into, twice the CPU of the
account's index read in order, and nothing sent before the sort ended.
"""

from __future__ import annotations

from sqlalchemy import text

from api.audit.query import Filters
from api.db import SERIAL_PLAN, Database
from api.export import ExportFormat, ExportQuery, prepared
from api.models import Role
from tests.export.support import seed_many
from tests.helpers import Api

PARALLEL_IS_FREE = (
    "SET LOCAL parallel_setup_cost = 0",
    "SET LOCAL parallel_tuple_cost = 0",
    "SET LOCAL min_parallel_table_scan_size = 0",
    "SET LOCAL min_parallel_index_scan_size = 0",
)


async def export_plan(db: Database, query: ExportQuery, *settings: str) -> str:
    async with db.transaction() as session:
        for setting in PARALLEL_IS_FREE:
            await session.execute(text(setting))
        for setting in settings:
            await session.execute(text(setting))
        connection = await session.connection()
        compiled = query.statement(ExportFormat.CSV).compile(
            dialect=connection.dialect, compile_kwargs={"literal_binds": True}
        )
        plan = await session.execute(text(f"EXPLAIN {compiled.string}"))
        return "\n".join(row[0] for row in plan)


async def test_the_export_copy_is_planned_serially_even_when_parallel_plans_are_free(api: Api) -> None:
    key = await api.key("acme", Role.READER, login=False)
    await seed_many(api, key.account_id, 2_000)
    async with api.db.transaction() as session:
        await session.execute(text("ANALYZE audit_events"))  # the planner knows the rows are there
    query = prepared(ExportQuery(account_id=key.account_id, filters=Filters(predicates=())))

    unconstrained = await export_plan(api.db, query)
    serial = await export_plan(api.db, query, SERIAL_PLAN)

    assert "Gather" in unconstrained  # what the planner picks when left to itself
    assert "Gather" not in serial and "Parallel" not in serial
