"""Completing lists and objects of plain fields with a function compiled from the selection, not field by field.

graphql-core completes a value by running, for every field of every object, a resolver call, a
completion dispatch on the field's type and a path entry: about 20 µs a field.  A page of 50 audit
entries with the fields spacectl selects is 1,000 such fields, 20 ms of CPU of a request whose
SQL takes 1 ms.  Those fields are plain attributes (strawberry's "basic" fields: no resolver, no
permission, no extension), so their values cannot fail or wait: the whole list can be completed
by a function built once per selection from the same collected fields graphql-core would use
(aliases, fragments, ``@skip``/``@include`` and ``__typename`` all resolved by graphql-core itself).

The compiled path is taken only when it gives the same answer: every field in the subtree basic,
only object, list, scalar and enum types, no ``@defer``, no resolver middleware.  A value it cannot
complete (a null where the type forbids it, a scalar that does not serialize) makes it hand the
whole list back to graphql-core, which then reports the error at the right path as it always did.
An object whose subtree qualifies is completed whole the same way (a page's connection: its edges
and pageInfo in one call); one that does not keeps graphql-core's path, and its lists are still
compiled.

What is completed whole (a page's connection, or a list of entries) is one generated function
(``_generated``): the attribute reads, the type checks of string, ID and boolean leaves, the
answer's dicts and the loops over its lists, for every level below it, in one body, instead of
three calls a field and one a nested object.  Compiling a page's selection cost about as much as
completing ten entries, so the functions are kept across requests (``SHARED_COMPLETERS``) for
operations without directives, whose fields graphql-core collects the same whatever the
variables; parsed documents are shared by their text (``parsed_documents.py``), so a client's
repeated document finds its functions.  An operation with a directive (``@skip``/``@include``
read the variables) compiles for its request alone, as before.

The generated code reads a value's fields by their attributes, or, for a class that names other
reads (``ReadsFrom``), as those say: a search page's entries are read from its rows
(``api/graphql/audit/row_reads.py``), and the objects between them are never made.
"""

from __future__ import annotations

import contextlib
import enum
import itertools
import keyword
from collections.abc import Callable
from functools import cached_property
from typing import Any

from graphql import (
    GraphQLBoolean,
    GraphQLEnumType,
    GraphQLID,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLScalarType,
    GraphQLString,
    Undefined,
)
from graphql.execution.collect_fields import FieldDetails
from graphql.language import DirectiveNode, Node, OperationDefinitionNode
from graphql.pyutils import AwaitableOrValue, Path
from graphql.type.scalars import GRAPHQL_MAX_INT, GRAPHQL_MIN_INT
from sqlalchemy.util import LRUCache
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter

Completer = Callable[[Any], Any]
CompiledType = GraphQLList[GraphQLOutputType] | GraphQLObjectType
"""What a completer is compiled for: a list (of objects) or an object, as graphql-core completes them."""
CompleterKey = tuple[int, ...]
SHARED_COMPLETERS_SIZE = 512


SHARED_COMPLETERS: LRUCache[CompleterKey, tuple[object, Completer | None]] = LRUCache(SHARED_COMPLETERS_SIZE)
"""Completers kept across requests, by the ids of the list or object type and the field nodes they were
compiled for (the most recently used; trimmed once half as many again are kept).  Each entry holds those
objects, so no id in a kept key can be reused by another object while the entry lives."""
SHAREABLE_OPERATIONS: LRUCache[int, tuple[OperationDefinitionNode, bool]] = LRUCache(SHARED_COMPLETERS_SIZE)
"""Whether each operation's completers may be shared, by the operation node's id; each entry holds its
node, so the id cannot be another node's while the entry lives."""


class _NotCompletable(Exception):
    """A value the compiled function cannot complete exactly as graphql-core would: fall back."""


class CompiledCompletionContext(StrawberryGraphQLCoreExecutionContext):
    """strawberry's execution context, completing lists of basic objects with compiled functions."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Keyed by the field details' identity, kept alive beside the completer (as graphql-core's own memo).
        self._completers: dict[tuple[int, int, int], tuple[list[FieldDetails], Completer | None]] = {}

    def complete_list_value(
        self,
        return_type: GraphQLList[GraphQLOutputType],
        field_details_list: list[FieldDetails],
        info: GraphQLResolveInfo[Any],
        path: Path,
        result: Any,
        position_context: Any,
    ) -> AwaitableOrValue[list[Any]]:
        completer = self._completer(return_type, field_details_list)
        if completer is not None and isinstance(result, list | tuple):
            # _NotCompletable, or a value lacking an attribute: graphql-core completes the list again
            # (it only reads) and reports any error at its own path.
            with contextlib.suppress(Exception):
                return completer(result)  # type: ignore[no-any-return]
        return super().complete_list_value(return_type, field_details_list, info, path, result, position_context)

    def complete_object_value(
        self,
        return_type: GraphQLObjectType,
        field_details_list: list[FieldDetails],
        info: GraphQLResolveInfo[Any],
        path: Path,
        result: Any,
        position_context: Any,
    ) -> AwaitableOrValue[dict[str, Any]]:
        """An object whose subtree is all basic fields (a page's connection: its edges and pageInfo)
        in one compiled call; graphql-core calls this only for a value that is not null.  A value whose
        class names its reads (``__compiled_reads__``: a search page's connection) is first completed by
        the function written with them; if they do not cover the selection, or fail, its attributes are
        read as for any object."""
        reads = getattr(type(result), "__compiled_reads__", None)
        if isinstance(reads, ReadsFrom):
            from_reads = self._completer(return_type, field_details_list, reads)
            if from_reads is not None:
                with contextlib.suppress(Exception):  # the attributes' path below answers the same
                    return from_reads(result)  # type: ignore[no-any-return]
        completer = self._completer(return_type, field_details_list)
        if completer is not None:
            with contextlib.suppress(Exception):  # as for lists: graphql-core completes it again
                return completer(result)  # type: ignore[no-any-return]
        return super().complete_object_value(return_type, field_details_list, info, path, result, position_context)

    def _completer(
        self, completed_type: CompiledType, details: list[FieldDetails], reads: ReadsFrom | None = None
    ) -> Completer | None:
        """The function completing ``completed_type`` for these field details, reading its values by their
        attributes, or as ``reads`` says (module constants: their ids are never another object's)."""
        key = (id(completed_type), id(details), id(reads))
        cached = self._completers.get(key)
        if cached is None:
            if not self._without_middleware():
                completer = None
            elif self._shareable:
                completer = self._shared_completer(completed_type, details, reads)
            else:
                completer = self._compile_top(completed_type, details, reads)
            cached = self._completers[key] = (details, completer)
        return cached[1]

    def _shared_completer(
        self, completed_type: CompiledType, details: list[FieldDetails], reads: ReadsFrom | None
    ) -> Completer | None:
        """The completer compiled for the same field nodes by an earlier request, or compiled now and kept.

        The schema's list or object type and the field nodes (of a document shared by its text)
        identify the selection: without directives, the fields collected under them do not depend
        on anything else.
        """
        nodes = tuple(detail.node for detail in details)
        key = (id(reads), id(completed_type), *map(id, nodes))
        shared = SHARED_COMPLETERS.get(key)
        if shared is not None:
            return shared[1]
        completer = self._compile_top(completed_type, details, reads)
        SHARED_COMPLETERS[key] = ((completed_type, nodes, reads), completer)
        return completer

    def _compile_top(
        self, completed_type: CompiledType, details: list[FieldDetails], reads: ReadsFrom | None = None
    ) -> Completer | None:
        if isinstance(completed_type, GraphQLObjectType):
            # Nulls never reach complete_object_value: the type's own nullability is checked before.
            shape: ObjectShape | ListShape | None = self._compile_object(completed_type, details, nullable=False)
        else:
            shape = self._compile_list(completed_type, details)
        return None if shape is None else _generated(shape, reads)

    @cached_property
    def _shareable(self) -> bool:
        """Whether this operation's completers may be kept across requests: it and its fragments hold
        no directive (whose arguments may be variables).  Asked for each object and list completed;
        walked once per operation node (a document's text shares its nodes across requests), since
        walking spacectl's page took about 7 µs of every request."""
        operation = self.operation
        kept = SHAREABLE_OPERATIONS.get(id(operation))
        if kept is None:
            kept = SHAREABLE_OPERATIONS[id(operation)] = (operation, self._walked_shareable())
        return kept[1]

    def _walked_shareable(self) -> bool:
        """``_shareable``, worked out: the operation and its fragments walked for directives."""
        if any(fragment.variable_signatures for fragment in self.fragments.values()):
            return False  # fragment arguments: what a fragment selects depends on its spread
        pending: list[Node] = [self.operation, *(fragment.definition for fragment in self.fragments.values())]
        while pending:
            node = pending.pop()
            if getattr(node, "directives", None):
                return False
            if isinstance(node, DirectiveNode):
                return False
            selection_set = getattr(node, "selection_set", None)
            if selection_set is not None:
                pending.extend(selection_set.selections)
            variables = getattr(node, "variable_definitions", None)
            if variables and any(variable.directives for variable in variables):
                return False
        return True

    def _without_middleware(self) -> bool:
        manager = self.middleware_manager
        return manager is None or not manager.middlewares

    def _compile_list(self, list_type: GraphQLList[GraphQLOutputType], details: list[FieldDetails]) -> ListShape | None:
        """The shape of a list whose items are objects (lists of leaves gain nothing)."""
        item_type = list_type.of_type
        named = item_type.of_type if isinstance(item_type, GraphQLNonNull) else item_type
        if not isinstance(named, GraphQLObjectType):
            return None
        element = self._compile(item_type, details)
        return None if element is None else ListShape(element, nullable=False)

    def _compile(self, output_type: GraphQLOutputType, details: list[FieldDetails]) -> Shape | None:
        """The shape of ``output_type``'s answer, nullability included."""
        nullable = not isinstance(output_type, GraphQLNonNull)
        named = output_type.of_type if isinstance(output_type, GraphQLNonNull) else output_type
        if isinstance(named, GraphQLList):
            element = self._compile(named.of_type, details)
            return None if element is None else ListShape(element, nullable=nullable)
        if isinstance(named, GraphQLEnumType):
            return _enum_leaf(named, nullable=nullable)
        if isinstance(named, GraphQLScalarType):
            return _leaf(named, nullable=nullable)
        if isinstance(named, GraphQLObjectType):
            return self._compile_object(named, details, nullable=nullable)
        return None  # interfaces and unions need a runtime type: graphql-core's path

    def _compile_object(
        self, object_type: GraphQLObjectType, details: list[FieldDetails], *, nullable: bool
    ) -> ObjectShape | None:
        if object_type.is_type_of is not None:
            return None  # graphql-core would check each value's type first
        grouped, new_defer_usages, forbidden = self.collect_subfields(object_type, details)
        if new_defer_usages or forbidden:
            return None
        fields: list[CompiledField] = []
        for response_key, field_details in grouped.items():
            field = self._compile_field(object_type, response_key, field_details)
            if field is None:
                return None
            fields.append(field)
        return ObjectShape(tuple(fields), nullable=nullable)

    def _compile_field(
        self, object_type: GraphQLObjectType, response_key: str, details: list[FieldDetails]
    ) -> CompiledField | None:
        """Where the field's value is read from its parent, and how it is completed."""
        field_name = details[0].node.name.value
        if field_name == "__typename":
            return CompiledField(response_key, attribute=None, shape=_identity, constant=object_type.name)
        field = object_type.fields.get(field_name)
        if field is None or field.args or not getattr(field.resolve, "_is_default", False):
            return None
        definition = (field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
        if definition is None or definition.default_resolver is not getattr:
            return None
        attribute = definition.python_name
        if not attribute.isidentifier() or keyword.iskeyword(attribute):
            return None  # written into generated source as ``value.<attribute>``: a plain name only
        shape = self._compile(field.type, details)
        if shape is None:
            return None
        named = field.type.of_type if isinstance(field.type, GraphQLNonNull) else field.type
        return CompiledField(
            response_key,
            attribute=attribute,
            shape=shape,
            as_is=_RETURNED_AS_IS.get(named) if isinstance(named, GraphQLScalarType) else None,
            int32=named is GraphQLInt,
        )


class ObjectShape:
    """An object's answer: its fields, and whether a null is answered as null (or refused)."""

    __slots__ = ("fields", "nullable")

    def __init__(self, fields: tuple[CompiledField, ...], *, nullable: bool) -> None:
        self.fields = fields
        self.nullable = nullable


class ListShape:
    """A list's answer: its items' shape, and whether a null is answered as null (or refused)."""

    __slots__ = ("element", "nullable")

    def __init__(self, element: Shape, *, nullable: bool) -> None:
        self.element = element
        self.nullable = nullable


Shape = ObjectShape | ListShape | Completer
"""What a value is completed as: an object or a list, written into the generated function, or a leaf,
completed by the function given (``_leaf``, ``_enum_leaf``)."""


class CompiledField:
    """One field of a generated object: its answer key, where its value is read, how it is completed,
    and the type a leaf is answered unchanged in (a string, ID or boolean leaf; an Int leaf answers an
    ``int`` within 32 bits unchanged, as graphql-core's ``serialize_int`` does)."""

    __slots__ = ("as_is", "attribute", "constant", "int32", "response_key", "shape")

    def __init__(
        self,
        response_key: str,
        *,
        attribute: str | None,
        shape: Shape,
        constant: str | None = None,
        as_is: type | None = None,
        int32: bool = False,
    ) -> None:
        self.response_key = response_key
        self.attribute = attribute
        self.shape = shape
        self.constant = constant
        self.as_is = as_is
        self.int32 = int32


class ReadsFrom:
    """Where the generated code reads an object's attributes when they are worked out from another value
    (a search page's entries from its rows, ``api/graphql/audit/row_reads.py``), in place of ``value.<attribute>``.

    ``expressions`` maps each attribute to Python source over ``{value}`` (the object's own value) and
    ``{top}`` (the value completed whole), and to how the result's own attributes are read (None: by
    their names).  An attribute the table lacks leaves that selection to the attributes' path.  The
    source is this module's callers' constants, never a request's; the names it uses come from
    ``namespace``.  A class opts in by naming its reads in ``__compiled_reads__``."""

    __slots__ = ("expressions", "namespace")

    def __init__(
        self, expressions: dict[str, tuple[str, ReadsFrom | None]], namespace: dict[str, object] | None = None
    ) -> None:
        self.expressions = expressions
        self.namespace = namespace or {}


class _CannotWrite(Exception):
    """A selection the reads given do not cover."""


def _generated(shape: ObjectShape | ListShape, reads: ReadsFrom | None = None) -> Completer | None:
    """One function completing ``shape`` whole: the objects and lists below it written into its body
    (reads, type checks, dicts and loops), their leaves by one check each or their function.

    Nested functions, one per object, cost a call for each object of each entry (an entry, its
    actor, run and two resources: 88.6 against 81 µs a page of 50, timeit).  The source
    holds only generated local names, the fields' attribute names (checked to be plain identifiers)
    and ``repr`` of the response keys (GraphQL names); everything else is passed in.  A selection
    nested past what Python compiles (blocks, indentation) keeps graphql-core's path: None.
    """
    writer = _SourceWriter()
    try:
        body = writer.value(shape, "value", "answer", 1, reads)
    except _CannotWrite:
        return None
    source = "\n".join(["def complete(value):", *body, "    return answer"])
    try:
        code = compile(source, "<compiled completion>", "exec")
    except (SyntaxError, RecursionError, MemoryError):
        return None
    exec(code, writer.namespace)  # noqa: S102  # only generated names, see above
    completer: Completer = writer.namespace["complete"]
    return completer


class _SourceWriter:
    """Writes the statements completing a shape; what they call or compare with goes into ``namespace``."""

    def __init__(self) -> None:
        self.namespace: dict[str, Any] = {
            "_null": _null,
            "_NotCompletable": _NotCompletable,
            "_sequence": (list, tuple),
        }
        self._names = itertools.count()

    def name(self, prefix: str, value: object = None) -> str:
        """A new local name; with a value, a name in ``namespace`` holding it."""
        name = f"{prefix}{next(self._names)}"
        if value is not None:
            self.namespace[name] = value
        return name

    def value(self, shape: Shape, source: str, target: str, depth: int, reads: ReadsFrom | None) -> list[str]:
        """Statements setting ``target`` to the answer of the value in ``source``, its attributes read as
        ``reads`` says (None: by their names)."""
        pad = "    " * depth
        if isinstance(shape, ObjectShape):
            return [
                f"{pad}if {source} is None:",
                f"{pad}    {target} = _null({shape.nullable})",
                f"{pad}else:",
                *self._object(shape, source, target, depth + 1, reads),
            ]
        if isinstance(shape, ListShape):
            return [
                f"{pad}if {source} is None:",
                f"{pad}    {target} = _null({shape.nullable})",
                f"{pad}elif not isinstance({source}, _sequence):",
                f"{pad}    raise _NotCompletable",
                f"{pad}else:",
                *self._items(shape.element, source, target, depth + 1, reads),
            ]
        return [f"{pad}{target} = {self.name('c', shape)}({source})"]

    def _object(self, shape: ObjectShape, source: str, target: str, depth: int, reads: ReadsFrom | None) -> list[str]:
        pad = "    " * depth
        lines, entries = [], []
        read_into: dict[str, str] = {}  # an expression read twice (an alias, createdAt and updatedAt) is read once
        for field in shape.fields:
            key = repr(field.response_key)
            if field.attribute is None:
                entries.append(f"{key}: {self.name('t', field.constant)}")
                continue
            expression, inner = self._read(reads, field.attribute, source)
            read = read_into.get(expression)
            if read is None:
                read = read_into[expression] = self.name("v")
                lines.append(f"{pad}{read} = {expression}")
            if isinstance(field.shape, ObjectShape | ListShape):
                answer = self.name("a")
                lines.extend(self.value(field.shape, read, answer, depth, inner))
                entries.append(f"{key}: {answer}")
            elif field.as_is is not None:
                entries.append(
                    f"{key}: {read} if type({read}) is {self.name('k', field.as_is)}"
                    f" else {self.name('c', field.shape)}({read})"
                )
            elif field.int32:
                within = f"type({read}) is int and {GRAPHQL_MIN_INT} <= {read} <= {GRAPHQL_MAX_INT}"
                entries.append(f"{key}: {read} if {within} else {self.name('c', field.shape)}({read})")
            else:
                entries.append(f"{key}: {self.name('c', field.shape)}({read})")
        return [*lines, f"{pad}{target} = {{" + ", ".join(entries) + "}"]

    def _read(self, reads: ReadsFrom | None, attribute: str, source: str) -> tuple[str, ReadsFrom | None]:
        """The expression reading ``attribute`` of the value in ``source``, and how its own attributes are read."""
        if reads is None:
            return f"{source}.{attribute}", None
        found = reads.expressions.get(attribute)
        if found is None:
            raise _CannotWrite(attribute)
        template, inner = found
        self.namespace.update(reads.namespace)
        return template.format(value=source, top="value"), inner

    def _items(self, element: Shape, source: str, target: str, depth: int, reads: ReadsFrom | None) -> list[str]:
        pad = "    " * depth
        if not isinstance(element, ObjectShape | ListShape):
            return [f"{pad}{target} = [{self.name('c', element)}(item) for item in {source}]"]
        item, answer = self.name("i"), self.name("a")
        return [
            f"{pad}{target} = []",
            f"{pad}for {item} in {source}:",
            *self.value(element, item, answer, depth + 1, reads),
            f"{pad}    {target}.append({answer})",
        ]


def _identity(value: Any) -> Any:
    return value


def _null(nullable: bool) -> None:
    """The completion of a null: itself where the type allows it; graphql-core's error otherwise."""
    if not nullable:
        raise _NotCompletable
    return None


# Scalars whose serialization returns a value of exactly this type unchanged (graphql-core's
# serialize_string, serialize_id, serialize_boolean): most leaves of a page, completed by one check.
_RETURNED_AS_IS: dict[GraphQLScalarType, type] = {GraphQLString: str, GraphQLID: str, GraphQLBoolean: bool}


def _leaf(leaf_type: GraphQLScalarType | GraphQLEnumType, *, nullable: bool) -> Completer:
    coerce = leaf_type.coerce_output_value
    as_is = _RETURNED_AS_IS.get(leaf_type) if isinstance(leaf_type, GraphQLScalarType) else None

    def complete_leaf(value: Any) -> Any:
        if type(value) is as_is:
            return value
        if value is None:
            return _null(nullable)
        try:
            coerced = coerce(value)
        except Exception as error:  # graphql-core reports it, with its path, on the fallback
            raise _NotCompletable from error
        if coerced is Undefined or coerced is None:
            raise _NotCompletable
        return coerced

    return complete_leaf


def _enum_leaf(enum_type: GraphQLEnumType, *, nullable: bool) -> Completer:
    """An enum leaf: strawberry's serialization of a member scans the type's values (a few µs, once
    per entry of a page), so each member's answer is kept after its first serialization.  Only
    members are kept (a type has finitely many), by identity: a member's own hash is a Python call
    (``Enum.__hash__``), and a ``StrEnum`` member equals its string, which is serialized on its own.
    Each entry holds its member, so the id cannot be another object's while it is kept."""
    coerce = _leaf(enum_type, nullable=nullable)  # the same checks and errors as any leaf
    answers: dict[int, tuple[enum.Enum, Any]] = {}

    def complete_enum(value: Any) -> Any:
        kept = answers.get(id(value))
        if kept is not None and kept[0] is value:
            return kept[1]
        if isinstance(value, enum.Enum):
            answer = coerce(value)
            answers[id(value)] = (value, answer)
            return answer
        return coerce(value)

    return complete_enum
