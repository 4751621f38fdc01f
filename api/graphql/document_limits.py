"""Structural limits checked on the parsed document before any validation rule runs.

graphql-core's validation is superlinear in what a document repeats: OverlappingFieldsCanBeMerged
compares every pair of same-named fields (and every field with every spread fragment), so 5,000
tokens of ``id id id ...`` cost over half a second of CPU on the event loop, and every unused or
misplaced variable is an error of its own.  Counting fields, fragments, spreads, directives and
variables is one linear pass; a document over any count is refused before the rules see it, which
bounds what they can cost.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields

from graphql import (
    DirectiveNode,
    DocumentNode,
    ExecutableDefinitionNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    Node,
    OperationDefinitionNode,
)
from strawberry.extensions import ValidationCache

from api.errors import InvalidRequest
from api.settings import Settings


@dataclass(frozen=True)
class DocumentSize:
    """How much of each costly thing a document holds, as its text writes it (fragments unexpanded)."""

    fields: int = 0
    fragments: int = 0
    fragment_spreads: int = 0
    directives: int = 0
    variables: int = 0


@dataclass(frozen=True)
class DocumentLimits:
    """The most of each a document may hold; built once from the settings."""

    fields: int
    fragments: int
    fragment_spreads: int
    directives: int
    variables: int

    @classmethod
    def of(cls, settings: Settings) -> DocumentLimits:
        """The limits the settings configure (``AUDITTRAIL_MAX_QUERY_FIELDS`` and its siblings)."""
        return cls(
            fields=settings.max_query_fields,
            fragments=settings.max_query_fragments,
            fragment_spreads=settings.max_query_fragment_spreads,
            directives=settings.max_query_directives,
            variables=settings.max_query_variables,
        )

    def refusal(self, size: DocumentSize) -> str | None:
        """Why a document of ``size`` is refused (every count over its limit), or None."""
        over = [
            f"{getattr(size, name)} {name.replace('_', ' ')} (at most {getattr(self, name)})"
            for name in (field.name for field in fields(self))
            if getattr(size, name) > getattr(self, name)
        ]
        return f"the document is too large to validate: {', '.join(over)}" if over else None


def measure(document: DocumentNode) -> DocumentSize:
    """Count what ``document`` holds in one pass, without recursion (the nesting is the attacker's)."""
    counts = {"fields": 0, "fragments": 0, "fragment_spreads": 0, "directives": 0, "variables": 0}
    pending: list[Node] = list(document.definitions)
    while pending:
        node = pending.pop()
        if isinstance(node, FieldNode):
            counts["fields"] += 1
        elif isinstance(node, FragmentSpreadNode):
            counts["fragment_spreads"] += 1
        elif isinstance(node, FragmentDefinitionNode):
            counts["fragments"] += 1
        elif isinstance(node, OperationDefinitionNode):
            counts["variables"] += len(node.variable_definitions or ())
        elif isinstance(node, DirectiveNode):
            counts["directives"] += 1
            continue
        pending.extend(_children(node))
    return DocumentSize(**counts)


def _children(node: Node) -> Iterator[Node]:
    """The nodes under ``node`` that can hold fields, spreads or directives (arguments cannot)."""
    yield from getattr(node, "directives", None) or ()
    if isinstance(node, OperationDefinitionNode):
        for variable in node.variable_definitions or ():
            yield from variable.directives or ()
    if isinstance(node, ExecutableDefinitionNode | FieldNode | InlineFragmentNode):
        selection_set = node.selection_set
        if selection_set is not None:
            yield from selection_set.selections


class LimitedValidation(ValidationCache):
    """strawberry's validation cache, in front of which the document's size is checked.

    One extension rather than two: the cache validates as soon as its hook is entered, so a separate
    check would have to come first and the cache would still have to know to skip."""

    def __init__(self, limits: DocumentLimits, maxsize: int) -> None:
        super().__init__(maxsize=maxsize)
        self.limits = limits

    def on_validate(self) -> Iterator[None]:
        document = self.execution_context.graphql_document
        refusal = self.limits.refusal(measure(document)) if document is not None else None
        if refusal is None:
            yield from super().on_validate()
            return
        self.execution_context.pre_execution_errors = [GraphQLError(refusal, extensions={"code": InvalidRequest.code})]
        yield
