"""Which of a search page's optional columns its GraphQL selection reads.

PostGraphile selects only the columns a query asks for; we selected all 17 for every page.  The
ones worth leaving out are ``LEFT_OUT_COLUMNS``: ``body`` (the whole payload, the largest) and the
two ``jsonb`` columns, which PostgreSQL turns into text row by row.  spacectl's page reads ``body``
but neither JSON column; the console's list reads none of the three.

Which entry fields read which of them is declared here (``COLUMNS_READ``) beside the entry type's
fields; ``tests/test_entry_columns.py`` holds the declaration to the type: each field selected
alone answers as with every column selected.  Every field named anywhere in the selection counts,
whatever its directives, aliases or fragments: a skipped field at worst selects a column for
nothing, never leaves out one a field reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from graphql import FieldNode, FragmentDefinitionNode, FragmentSpreadNode, InlineFragmentNode, Node
from sqlalchemy.util import LRUCache

from api.audit.search_raw import LEFT_OUT_COLUMNS
from api.graphql.context import AppInfo

COLUMNS_READ: dict[str, frozenset[str]] = {
    "body": frozenset({"body"}),
    "data": frozenset({"data"}),
    "context": frozenset({"context"}),
    "recordedBy": frozenset({"context"}),
    "externalId": frozenset({"context"}),
}
"""The entry fields that read a column of ``LEFT_OUT_COLUMNS``, by GraphQL name (``_EventEntry._later``)."""

_KEPT: LRUCache[tuple[int, ...], tuple[Sequence[FieldNode], frozenset[str]]] = LRUCache(256)
"""By the identity of the search field's nodes (of a document kept by its text), kept alive beside
the answer so that an identity is never reused while its answer is kept."""


def columns_left_out(info: AppInfo) -> frozenset[str]:
    """The columns of ``LEFT_OUT_COLUMNS`` that no field under the resolved field reads."""
    raw = info._raw_info
    nodes = raw.field_nodes
    key = tuple(map(id, nodes))
    kept = _KEPT.get(key)
    if kept is None:
        kept = _KEPT[key] = (nodes, left_out_by(nodes, raw.fragments))
    return kept[1]


def left_out_by(nodes: Iterable[FieldNode], fragments: dict[str, FragmentDefinitionNode]) -> frozenset[str]:
    """The columns of ``LEFT_OUT_COLUMNS`` that no field under ``nodes`` reads."""
    read = frozenset().union(*(COLUMNS_READ.get(name, ()) for name in field_names(nodes, fragments)))
    return LEFT_OUT_COLUMNS - read


def field_names(nodes: Iterable[FieldNode], fragments: dict[str, FragmentDefinitionNode]) -> set[str]:
    """The name of every field selected under ``nodes``, through fragments (each walked once)."""
    names: set[str] = set()
    spread: set[str] = set()
    pending: list[Node] = list(nodes)  # their own names count too, and read no column
    while pending:
        node = pending.pop()
        if isinstance(node, FragmentSpreadNode):
            name = node.name.value
            fragment = fragments.get(name)
            if name in spread or fragment is None:
                continue
            spread.add(name)
            pending.extend(fragment.selection_set.selections)
            continue
        if isinstance(node, FieldNode):
            names.add(node.name.value)
        if isinstance(node, FieldNode | InlineFragmentNode) and node.selection_set is not None:
            pending.extend(node.selection_set.selections)
    return names
