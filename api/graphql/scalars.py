"""Shared GraphQL scalars and conversions."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import NewType

import strawberry
from strawberry.types.scalar import ScalarDefinition

JSON = NewType("JSON", object)
"""Any JSON value, as Python values.  Its GraphQL scalar is in ``SCALARS``, given to the schema's
``StrawberryConfig.scalar_map`` (strawberry deprecated wrapping the type itself)."""

SCALARS: Mapping[object, ScalarDefinition] = {
    JSON: strawberry.scalar(
        name="JSON",
        description="Any JSON value.",
        serialize=lambda value: value,
        parse_value=lambda value: value,
    )
}


def unix_seconds(moment: datetime | None) -> int | None:
    """Whole unix seconds, as Spacelift's ``createdAt``-style fields carry them."""
    return int(moment.timestamp()) if moment is not None else None
