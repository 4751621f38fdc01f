"""``audittrail export``'s side: filters from command-line options, and an export written to a file.

The options become the same ``Filters`` a ``SearchInput`` becomes, and the rows come from the same
batches ``/export`` streams, so the command and the route write the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import aclosing
from datetime import datetime
from typing import BinaryIO

from api.audit.query import SEARCH_FIELDS, Constraint, FieldKind, Filters, Predicate, TimeInRange, search_field
from api.db import Database
from api.errors import BadInput
from api.export.formats import CSV_HEADER, ExportFormat
from api.export.stream import ExportQuery, export_chunks


def filters_from_options(filters: Sequence[str], start: datetime | None, end: datetime | None) -> Filters:
    """``field=value`` options (the same field again adds a value: OR) and a ``createdAt`` range.

    Values are as in ``stringMatches`` (``*`` is a wildcard), ``enumEquals`` or ``booleanEquals``
    depending on the field; ``--from`` and ``--to`` are inclusive, to the second.
    """
    values: dict[str, list[str]] = {}
    for option in filters:
        name, equals, value = option.partition("=")
        if not equals or not name:
            raise BadInput(f"--filter must be field=value, got {option[:80]!r}")
        target = search_field(name.strip())
        if target.kind is FieldKind.TIME:
            raise BadInput("filter createdAt with --from and --to")
        values.setdefault(target.name, []).append(value)
    predicates = [Predicate(name, _constraint(name, given)) for name, given in values.items()]
    if start is not None or end is not None:
        time_range = TimeInRange(start=start, end=end)
        predicates.append(Predicate("createdAt", Constraint(time_in_range=time_range)))
    return Filters(predicates=tuple(predicates))


def _constraint(name: str, values: list[str]) -> Constraint:
    kind = SEARCH_FIELDS[name].kind
    if kind is FieldKind.BOOLEAN:
        flags = {"true": True, "false": False}
        unknown = [v for v in values if v.lower() not in flags]
        if unknown:
            raise BadInput(f"{name} takes true or false, got {unknown[0][:20]!r}")
        return Constraint(boolean_equals=[flags[v.lower()] for v in values])
    if kind is FieldKind.ENUM:
        return Constraint(enum_equals=values)
    return Constraint(string_matches=values)


async def write_export(
    db: Database,
    query: ExportQuery,
    export_format: ExportFormat,
    output: BinaryIO,
    on_rows: Callable[[int], None] = lambda count: None,
) -> int:
    """Write the export to ``output``; ``on_rows`` hears of every batch.  Returns the rows written."""
    written = 0
    if export_format is ExportFormat.CSV:
        output.write(CSV_HEADER)
    async with aclosing(export_chunks(db, query, export_format)) as chunks:
        async for chunk in chunks:
            output.write(chunk.data)
            written += chunk.rows
            on_rows(chunk.rows)
    return written
