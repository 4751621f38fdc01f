"""Shared GraphQL scalars and conversions."""

from __future__ import annotations

from datetime import datetime
from typing import NewType

import strawberry

JSON = strawberry.scalar(
    NewType("JSON", object),
    name="JSON",
    description="Any JSON value.",
    serialize=lambda value: value,
    parse_value=lambda value: value,
)


def unix_seconds(moment: datetime | None) -> int | None:
    """Whole unix seconds, as Spacelift's ``createdAt``-style fields carry them."""
    return int(moment.timestamp()) if moment is not None else None
