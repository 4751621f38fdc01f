"""Building the ingestion input from GraphQL input values with a plan worked out once per type.

Strawberry converts an argument field by field and, for every value, resolves each field's type
annotation and GraphQL name again: for a 500-event ``auditTrailRecordEvents`` batch that was about
half of the request (100 ms of some 200 ms in a profile).  Its ``from_input`` hook lets a type build
its own value; ``install_fast_inputs`` gives ``AuditTrailEventInput`` and the input types reachable
from it (that hot path only: every other input keeps Strawberry's conversion) a builder that resolves
names and types on first use and afterwards only applies them.  The result is the same object
Strawberry builds (``tests/test_fast_inputs.py`` compares them): omitted fields without a default
become None, omitted fields with one keep it, lists are copied, nested inputs are built by their own
builders, and every nested value is converted with its path (``("events", 3, "run")``), as Strawberry
passes it, so hooks and errors below know where they are.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import strawberry
from strawberry.relay import GlobalID
from strawberry.scalars import is_scalar
from strawberry.types.arguments import InputContext
from strawberry.types.base import (
    StrawberryList,
    StrawberryMaybe,
    StrawberryObjectDefinition,
    StrawberryOptional,
    has_object_definition,
)
from strawberry.types.enum import StrawberryEnumDefinition, has_enum_definition
from strawberry.types.field import StrawberryField
from strawberry.types.lazy_type import LazyType

from api.graphql.audit.inputs import AuditTrailEventInput, SearchInput, SearchSuggestionsInput

HOT_INPUTS: tuple[type, ...] = (AuditTrailEventInput, SearchInput, SearchSuggestionsInput)
"""Roots of the inputs worth a builder: ``auditTrailRecordEvents`` takes up to 1,000 per request, and the
search and its suggestions, the read path's hottest requests, spent 1-15 % of their CPU converting theirs."""

Keys = tuple[str | int, ...]
Converter = Callable[[Any, InputContext, str | int], Any]
"""Converts a non-null value found at a key (field name or list index) of the value of a context."""


@dataclasses.dataclass(frozen=True)
class _FieldPlan:
    graphql_name: str
    python_name: str
    convert: Converter | None
    """None: the value is used as it is (a scalar or an enum, already coerced by graphql-core)."""
    converts_null: bool
    """A ``strawberry.Maybe`` field: an explicit null becomes ``Some(None)``, so it is converted too."""


@dataclasses.dataclass(frozen=True)
class _Plan:
    fields: tuple[_FieldPlan, ...]
    none_by_default: tuple[str, ...]
    """Fields without a default: None when omitted, as Strawberry does for nullable fields."""


class InputBuilder:
    """The ``from_input`` hook of one input type."""

    def __init__(self, definition: StrawberryObjectDefinition) -> None:
        self.definition = definition
        self._plan: _Plan | None = None

    def __call__(self, cls: type, value: Mapping[str, Any], context: InputContext) -> Any:
        return self.build(cls, value, context, ())

    def build(self, cls: type, value: Mapping[str, Any], parent: InputContext, keys: Keys) -> Any:
        """Build the value found at ``keys`` in the value of ``parent`` (no keys: ``parent`` is its own).

        The value's own context is made only when one of its fields needs converting: most of our
        nested inputs hold scalars alone, and a context for each would cost a third of the time.
        """
        plan = self._plan or self._make_plan(parent)
        context = None if keys else parent
        kwargs: dict[str, Any] = dict.fromkeys(plan.none_by_default)
        for field in plan.fields:
            if field.graphql_name in value:
                item = value[field.graphql_name]
                if (
                    field.convert is not None
                    and item is not strawberry.UNSET
                    and (item is not None or field.converts_null)
                ):
                    if context is None:
                        context = _at(parent, keys)
                    item = field.convert(item, context, field.graphql_name)
                kwargs[field.python_name] = item
        return cls(**kwargs)

    def _make_plan(self, context: InputContext) -> _Plan:
        definition = self.definition
        fields = tuple(_field_plan(field, definition, context) for field in definition.fields)
        none_by_default = tuple(
            field.python_name
            for field in definition.fields
            if field.default_value is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
        )
        self._plan = _Plan(fields, none_by_default)
        return self._plan


def _field_plan(field: StrawberryField, definition: StrawberryObjectDefinition, context: InputContext) -> _FieldPlan:
    field_type = field.resolve_type(type_definition=definition)
    return _FieldPlan(
        graphql_name=context.config.name_converter.from_field(field),
        python_name=field.python_name,
        convert=_converter(field_type, context),
        converts_null=isinstance(field_type, StrawberryMaybe),
    )


def _at(context: InputContext, keys: Keys) -> InputContext:
    """The context of the value at ``keys`` inside the value of ``context``."""
    return InputContext(
        info=context.info,
        config=context.config,
        scalar_registry=context.scalar_registry,
        path=(*context.path, *keys),
    )


def _converter(type_: Any, context: InputContext) -> Converter | None:
    """How a non-null value of ``type_`` becomes its Python value; anything unusual goes to Strawberry."""
    if isinstance(type_, StrawberryMaybe):
        return lambda value, parent, key: parent.convert(value, type_, key)
    if isinstance(type_, StrawberryOptional):
        # Callers never pass None or UNSET (the builder and the list converter keep those as they are).
        return _converter(type_.of_type, context)
    if isinstance(type_, StrawberryList):
        item_converter = _converter(type_.of_type, context)
        if item_converter is None:
            # Copied, as Strawberry does: graphql-core shares default values between requests.
            return lambda value, parent, key: list(value)
        return lambda value, parent, key: _convert_items(value, item_converter, _at(parent, (key,)))
    if isinstance(type_, StrawberryEnumDefinition) or has_enum_definition(type_):
        return None
    if type_ is not GlobalID and is_scalar(type_, context.scalar_registry):
        return None
    if has_object_definition(type_) and isinstance(type_.__strawberry_definition__.from_input, InputBuilder):
        builder = type_.__strawberry_definition__.from_input
        return lambda value, parent, key: builder.build(type_, value, parent, (key,))
    return lambda value, parent, key: parent.convert(value, type_, key)


def _convert_items(items: Iterable[Any], convert: Converter, context: InputContext) -> list[Any]:
    """A list's items converted, each at its index in the list of ``context``; nulls stay null."""
    return [
        item if item is None or item is strawberry.UNSET else convert(item, context, index)
        for index, item in enumerate(items)
    ]


def _input_definitions_reachable_from(roots: Iterable[type]) -> list[StrawberryObjectDefinition]:
    """The definitions of ``roots`` and of every input type their fields lead to, lists and
    optionals looked through."""
    found: dict[int, StrawberryObjectDefinition] = {}
    pending: list[Any] = list(roots)
    while pending:
        type_ = pending.pop()
        while isinstance(type_, (StrawberryOptional, StrawberryList, LazyType)):
            type_ = type_.resolve_type() if isinstance(type_, LazyType) else type_.of_type
        if not has_object_definition(type_):
            continue
        definition = type_.__strawberry_definition__
        if definition.is_input and id(definition) not in found:
            found[id(definition)] = definition
            pending.extend(field.resolve_type(type_definition=definition) for field in definition.fields)
    return list(found.values())


def install_fast_inputs(roots: Iterable[type] = HOT_INPUTS) -> None:
    """Give the input types of ``roots`` and the input types reachable from them a builder, unless
    they have a ``from_input`` hook already (once; types are shared by every schema of the process)."""
    for definition in _input_definitions_reachable_from(roots):
        if definition.from_input is None:
            definition.from_input = InputBuilder(definition)
