"""Coercing the variables of the hot operations with a function built once per variable type.

graphql-core coerces a variable value generically: for each of a 500-event batch's 80,000 values
it asks again what kind of type it has (about 20 ms of a batch's CPU), after walking the whole
value once more to check its nesting depth (another quarter).  The search's ``input`` is smaller,
but is coerced on every page: 60 µs of a filtered page's 1.5 ms.  For a variable typed as a list of
a hot input type or as a hot input type itself (``HOT_INPUT_NAMES``), the execution context coerces
the value with a function compiled from the type instead, doing what ``coerce_input_value`` does in
the same order: nulls, a single value as a list of one, unknown or missing fields, field defaults
(graphql-core's own memoized ones), ``out_type`` and each scalar's and enum's own coercion.

The type is known not to be recursive and to nest less than graphql-core's depth limit, so a value
cannot be nested deeper than the type: the depth check could never fail and is skipped.  graphql-core
itself builds the execution with a placeholder in the variable's place (an empty list, or an empty
object for an input type without required fields; every other variable, the operation and its
errors stay its own), and the compiled value then replaces it.  A value the function refuses makes
the whole build run the plain way, so every error keeps graphql-core's message and path;
``tests/test_fast_variables.py`` compares values and errors.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from graphql import (
    DocumentNode,
    GraphQLEnumType,
    GraphQLError,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
    GraphQLSchema,
    ListTypeNode,
    NamedTypeNode,
    NonNullTypeNode,
    OperationDefinitionNode,
    TypeNode,
    Undefined,
    get_nullable_type,
    is_input_type,
    is_required_input_field,
    parse_type,
    type_from_ast,
)
from graphql.execution import Executor
from graphql.language.parser import MAX_NESTING_DEPTH
from graphql.pyutils import is_iterable
from graphql.type.scalars import coerce_string
from graphql.utilities.coerce_input_value import coerce_default_value

from api.graphql.compiled_completion import CompiledCompletionContext

HOT_INPUT_NAMES = frozenset({"AuditTrailEventInput", "SearchInput", "SearchSuggestionsInput"})
"""Input types coerced by compiled functions: ``auditTrailRecordEvents`` takes 1,000 events, and
every search page and sidebar takes its input."""

Coercer = Callable[[Any], Any]
"""A value as the client sent it, coerced; ``Undefined`` when graphql-core would refuse it."""
Placeholder = type[list[Any]] | type[dict[str, Any]]
"""What makes the empty value graphql-core coerces in a hot variable's place (a new one each time)."""


def compile_coercer(type_: GraphQLInputType) -> Coercer | None:
    """The coercion of values of ``type_``; None for a recursive, too deep or ``@oneOf`` type."""
    return _coercer(type_, frozenset(), 0)


def _coercer(type_: GraphQLInputType, enclosing: frozenset[str], depth: int) -> Coercer | None:
    if depth > MAX_NESTING_DEPTH:
        return None
    if isinstance(type_, GraphQLNonNull):
        return _non_null(type_.of_type, enclosing, depth)
    inner = _value_coercer(type_, enclosing, depth)
    if inner is None:
        return None

    def coerce_nullable(value: Any) -> Any:
        return None if value is None or value is Undefined else inner(value)

    return coerce_nullable


def _non_null(type_: GraphQLInputType, enclosing: frozenset[str], depth: int) -> Coercer | None:
    inner = _value_coercer(type_, enclosing, depth)
    if inner is None:
        return None

    def coerce_non_null(value: Any) -> Any:
        return Undefined if value is None or value is Undefined else inner(value)

    return coerce_non_null


def _value_coercer(type_: GraphQLInputType, enclosing: frozenset[str], depth: int) -> Coercer | None:
    """The coercion of a value of ``type_`` that is neither null nor undefined."""
    if isinstance(type_, GraphQLList):
        return _list(type_, enclosing, depth)
    if isinstance(type_, GraphQLInputObjectType):
        return _input_object(type_, enclosing, depth)
    if isinstance(type_, (GraphQLScalarType, GraphQLEnumType)):
        return _leaf(type_)
    return None


def _list(type_: GraphQLList[Any], enclosing: frozenset[str], depth: int) -> Coercer | None:
    coerce_item = _coercer(type_.of_type, enclosing, depth + 1)
    if coerce_item is None:
        return None

    def coerce_list(value: Any) -> Any:
        if not is_iterable(value):
            # Lists accept a non-list value as a list of one.
            item = coerce_item(value)
            return Undefined if item is Undefined else [item]
        coerced = []
        for item_value in value:
            item = coerce_item(item_value)
            if item is Undefined:
                return Undefined
            coerced.append(item)
        return coerced

    return coerce_list


def _input_object(type_: GraphQLInputObjectType, enclosing: frozenset[str], depth: int) -> Coercer | None:
    if type_.is_one_of or type_.name in enclosing:
        return None
    inside = enclosing | {type_.name}
    plan = []
    for name, field in type_.fields.items():
        coerce_field = _coercer(field.type, inside, depth + 1)
        if coerce_field is None:
            return None
        # graphql-core memoizes a field's coerced default on the field: the same object every time.
        default = Undefined if is_required_input_field(field) else coerce_default_value(field)
        plan.append((name, field.out_name or name, coerce_field, is_required_input_field(field), default))
    names = frozenset(type_.fields)
    out_type = type_.out_type

    def coerce_object(value: Any) -> Any:
        if not isinstance(value, dict):
            return Undefined
        if not names.issuperset(value) and any(
            name not in names and field_value is not Undefined for name, field_value in value.items()
        ):
            return Undefined
        coerced: dict[str, Any] = {}
        for name, out_name, coerce_field, is_required, default in plan:
            field_value = value.get(name, Undefined)
            if field_value is Undefined:
                if is_required:
                    return Undefined
                if default is not Undefined:
                    coerced[out_name] = default
            else:
                field_value = coerce_field(field_value)
                if field_value is Undefined:
                    return Undefined
                coerced[out_name] = field_value
        return out_type(coerced)

    return coerce_object


def _leaf(type_: GraphQLScalarType | GraphQLEnumType) -> Coercer:
    coerce = type_.coerce_input_value
    if coerce is coerce_string:
        # graphql-core's String, inlined: most fields of an event are strings.
        return lambda value: value if isinstance(value, str) else Undefined

    def coerce_leaf(value: Any) -> Any:
        try:
            return coerce(value)
        except Exception:  # as graphql-core: any failure is a value it refuses
            return Undefined

    return coerce_leaf


def _operation(document: DocumentNode, operation_name: str | None) -> OperationDefinitionNode | None:
    """The operation graphql-core will run, when it is plain which (else graphql-core reports why)."""
    operations = [node for node in document.definitions if isinstance(node, OperationDefinitionNode)]
    if operation_name is None:
        return operations[0] if len(operations) == 1 else None
    named = [node for node in operations if node.name is not None and node.name.value == operation_name]
    return named[0] if len(named) == 1 else None


def coerce_hot_variables(
    schema: GraphQLSchema, document: DocumentNode, operation_name: str | None, raw: Mapping[str, Any]
) -> dict[str, tuple[Any, Placeholder]] | None:
    """The coerced values of the operation's variables of hot input types, each with how to make the
    placeholder graphql-core is given in its place; None when there are none or one is refused (then
    graphql-core coerces everything and reports the errors)."""
    operation = _operation(document, operation_name)
    if operation is None:
        return None
    coerced: dict[str, tuple[Any, Placeholder]] = {}
    for definition in operation.variable_definitions or ():
        name = definition.variable.name.value
        value = raw.get(name, Undefined)
        if value is Undefined:
            continue
        hot = _hot_coercer(schema, type_text(definition.type))
        if hot is None:
            continue
        coerce, placeholder = hot
        coerced_value = coerce(value)
        if coerced_value is Undefined:
            return None
        coerced[name] = (coerced_value, placeholder)
    return coerced or None


def type_text(node: TypeNode) -> str:
    """A variable's type as ``print_ast`` prints it (``[AuditTrailEventInput!]!``), without its visitor:
    about 9 µs a variable of every request, for a type that is a name in at most a few wrappers."""
    if isinstance(node, NonNullTypeNode):
        return f"{type_text(node.type)}!"
    if isinstance(node, ListTypeNode):
        return f"[{type_text(node.type)}]"
    assert isinstance(node, NamedTypeNode), node  # the three kinds of type node
    return node.name.value


@lru_cache(maxsize=256)
def _hot_coercer(schema: GraphQLSchema, type_text: str) -> tuple[Coercer, Placeholder] | None:
    """The coercer of a variable typed ``type_text`` (``[AuditTrailEventInput!]!``, ``SearchInput!``) if
    it is a hot input type or a list of one, with the placeholder graphql-core coerces in its place:
    an empty list, valid for any list type, or an empty object, valid for an input type none of whose
    fields is required.  Keyed by the printed type: graphql-core builds new wrappers for each request."""
    type_ = type_from_ast(schema, parse_type(type_text))
    if not is_input_type(type_):
        return None
    nullable = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
    is_list = isinstance(nullable, GraphQLList)
    named = get_nullable_type(nullable.of_type) if isinstance(nullable, GraphQLList) else nullable
    if not isinstance(named, GraphQLInputObjectType) or named.name not in HOT_INPUT_NAMES:
        return None
    if not is_list and any(map(is_required_input_field, named.fields.values())):
        return None  # an empty object is not a valid value of it, so it cannot be the placeholder
    coerce = compile_coercer(type_)
    return None if coerce is None else (coerce, list if is_list else dict)


class FastVariablesContext(CompiledCompletionContext):
    """The schema's execution context, coercing variables of hot input types (and lists of them) with
    compiled functions."""

    @classmethod
    def build(
        cls,
        schema: GraphQLSchema,
        document: DocumentNode,
        root_value: Any = None,
        context_value: Any = None,
        raw_variable_values: dict[str, Any] | None = None,
        operation_name: str | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> list[GraphQLError] | Executor[Any]:
        raw = raw_variable_values or {}
        fast = coerce_hot_variables(schema, document, operation_name, raw)
        if fast is None:
            return super().build(
                schema, document, root_value, context_value, raw_variable_values, operation_name, *args, **kwargs
            )
        # Placeholders graphql-core coerces in next to no time, each valid for its variable's type.
        placeholders = {**raw, **{name: placeholder() for name, (_, placeholder) in fast.items()}}
        executor = super().build(
            schema, document, root_value, context_value, placeholders, operation_name, *args, **kwargs
        )
        if isinstance(executor, list):
            return executor  # errors of other variables, as the plain build reports them
        variables = executor.variable_values
        for name, (value, _) in fast.items():
            variables.sources[name] = variables.sources[name]._replace(value=raw[name])
            variables.coerced[name] = value
        return executor
