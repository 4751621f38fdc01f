"""Building our input classes from GraphQL input values with a plan worked out once per type.

Strawberry converts an argument field by field and, for every value, resolves each field's type
annotation and GraphQL name again: for a 500-event ``auditTrailRecordEvents`` batch that was about
half of the request (100 ms of some 200 ms in a profile).  Its ``from_input`` hook lets a type build
its own value; ``install_fast_inputs`` gives each of our input types a builder that resolves names
and types on first use and afterwards only applies them.  The result is the same object Strawberry
builds (``tests/test_fast_inputs.py`` compares them): omitted fields without a default become None,
omitted fields with one keep it, lists are copied, nested inputs are built by their own builders.
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

Converter = Callable[[Any, InputContext], Any]


@dataclasses.dataclass(frozen=True)
class _FieldPlan:
    graphql_name: str
    python_name: str
    convert: Converter | None
    """None: the value is used as it is (a scalar or an enum, already coerced by graphql-core)."""


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
        plan = self._plan or self._make_plan(context)
        kwargs: dict[str, Any] = dict.fromkeys(plan.none_by_default)
        for field in plan.fields:
            if field.graphql_name in value:
                item = value[field.graphql_name]
                if field.convert is not None and item is not None and item is not strawberry.UNSET:
                    item = field.convert(item, context)
                kwargs[field.python_name] = item
        return cls(**kwargs)

    def _make_plan(self, context: InputContext) -> _Plan:
        definition = self.definition
        fields = tuple(
            _FieldPlan(
                graphql_name=context.config.name_converter.from_field(field),
                python_name=field.python_name,
                convert=_converter(field.resolve_type(type_definition=definition), context),
            )
            for field in definition.fields
        )
        none_by_default = tuple(
            field.python_name
            for field in definition.fields
            if field.default_value is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
        )
        self._plan = _Plan(fields, none_by_default)
        return self._plan


def _converter(type_: Any, context: InputContext) -> Converter | None:
    """How a non-null value of ``type_`` becomes its Python value; anything unusual goes to Strawberry."""
    if isinstance(type_, StrawberryMaybe):
        return lambda value, ctx: ctx.convert(value, type_)
    if isinstance(type_, StrawberryOptional):
        # Callers never pass None or UNSET (the builder and the list converter keep those as they are).
        return _converter(type_.of_type, context)
    if isinstance(type_, StrawberryList):
        item_converter = _converter(type_.of_type, context)
        if item_converter is None:
            # Copied, as Strawberry does: graphql-core shares default values between requests.
            return lambda value, ctx: list(value)
        return lambda value, ctx: [
            item if item is None or item is strawberry.UNSET else item_converter(item, ctx) for item in value
        ]
    if isinstance(type_, StrawberryEnumDefinition) or has_enum_definition(type_):
        return None
    if type_ is not GlobalID and is_scalar(type_, context.scalar_registry):
        return None
    if has_object_definition(type_) and isinstance(type_.__strawberry_definition__.from_input, InputBuilder):
        build = type_.__strawberry_definition__.from_input
        return lambda value, ctx: build(type_, value, ctx)
    return lambda value, ctx: ctx.convert(value, type_)


def install_fast_inputs(input_definitions: Iterable[object]) -> None:
    """Give every plain input type among ``input_definitions`` its builder (once; types are shared
    by every schema of the process)."""
    for definition in input_definitions:
        if isinstance(definition, StrawberryObjectDefinition) and definition.is_input and definition.from_input is None:
            definition.from_input = InputBuilder(definition)
