"""Structural limits checked on the parsed document before any validation rule runs.

graphql-core's validation is superlinear in what a document repeats: OverlappingFieldsCanBeMerged
compares every pair of same-named fields (and every field with every spread fragment), so 5,000
tokens of ``id id id ...`` cost over half a second of CPU on the event loop, and every unused or
misplaced variable is an error of its own.  Counting fields, fragments, spreads, directives and
variables is one linear pass; a document over any count is refused before the rules see it, which
bounds what they can cost.
"""

from __future__ import annotations

from collections import OrderedDict
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
    GraphQLSchema,
    InlineFragmentNode,
    Node,
    OperationDefinitionNode,
)
from graphql.validation import ASTValidationRule
from strawberry.schema.schema import validate_document
from strawberry.types import ExecutionContext

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


def empty_selections(document: DocumentNode) -> list[GraphQLError]:
    """An error for each selection set that selects nothing (``{ }``).

    The grammar wants at least one selection, but graphql-core 3.3 parses ``{ }`` and its rules do
    not refuse it; strawberry's depth limit then fails on it (``max()`` of nothing) and the client
    got that message as an internal error.  So it is refused here, with its place, as the syntax
    error it is, before any rule runs."""
    errors = []
    pending: list[Node] = list(document.definitions)
    while pending:
        node = pending.pop()
        selection_set = getattr(node, "selection_set", None)
        if selection_set is not None and not selection_set.selections:
            errors.append(GraphQLError("Syntax Error: a selection set must select at least one field.", selection_set))
        pending.extend(_children(node))
    return errors


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


class ValidatedDocuments:
    """Each document's refusal or validation errors, the most recent ``maxsize``, by the document's
    identity and the rules it was validated with.

    strawberry's ``ValidationCache`` keys an ``lru_cache`` by the document itself, and a parsed
    document (a frozen dataclass) hashes every node under it on every lookup; documents are shared
    by their text (``parsed_documents.py``), so their identity finds them.  Each entry holds its
    document, so no id in a kept key can be another document's while the entry lives.
    """

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._entries: OrderedDict[tuple[int, tuple[type[ASTValidationRule], ...]], _Validated] = OrderedDict()

    def check(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        rules: tuple[type[ASTValidationRule], ...],
        limits: DocumentLimits,
    ) -> _Validated:
        key = (id(document), rules)
        entry = self._entries.get(key)
        if entry is not None and entry.document is document:
            self._entries.move_to_end(key)
            return entry
        refusal = limits.refusal(measure(document))
        errors = (
            None if refusal is not None else (empty_selections(document) or validate_document(schema, document, rules))
        )
        entry = self._entries[key] = _Validated(document, refusal, errors)
        while len(self._entries) > self.maxsize:
            self._entries.popitem(last=False)
        return entry

    def __len__(self) -> int:
        return len(self._entries)


@dataclass(frozen=True)
class _Validated:
    document: DocumentNode
    refusal: str | None
    errors: list[GraphQLError] | None


def validate_within_limits(
    execution_context: ExecutionContext, limits: DocumentLimits, validated: ValidatedDocuments
) -> None:
    """Refuse a document over ``limits`` before validation, or give the errors it was validated with
    once (``ValidatedDocuments``); strawberry's own validation then finds them set and runs no rule.

    Called by ``RequestHooks`` as validation begins: the check must come before validation, and both
    are kept by the same document."""
    document = execution_context.graphql_document
    if document is None:
        return
    checked = validated.check(execution_context.schema._schema, document, execution_context.validation_rules, limits)
    if checked.refusal is not None:
        refusal = GraphQLError(checked.refusal, extensions={"code": InvalidRequest.code})
        execution_context.pre_execution_errors = [refusal]
    else:
        execution_context.pre_execution_errors = checked.errors
