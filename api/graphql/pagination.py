"""The connection shapes every paged list shares."""

from __future__ import annotations

import strawberry


@strawberry.type
class PageInfo:
    end_cursor: str | None
    has_next_page: bool
    has_previous_page: bool
