"""The resource types the service's own events name, in Spacelift's UPPER_SNAKE form."""

from __future__ import annotations

import enum


class ResourceType(enum.StrEnum):
    ACCOUNT = "ACCOUNT"
    API_KEY = "API_KEY"
    USER = "USER"
    """An API key acting as a user: what a login is recorded on, as in Spacelift."""
    AUDIT_TRAIL_WEBHOOK = "AUDIT_TRAIL_WEBHOOK"
    AUDIT_TRAIL_DELIVERY = "AUDIT_TRAIL_DELIVERY"
    AUDIT_TRAIL_DIGEST = "AUDIT_TRAIL_DIGEST"
    AUDIT_TRAIL_REPLAY = "AUDIT_TRAIL_REPLAY"
    SAVED_FILTER = "SAVED_FILTER"
    """A named view of the Logs tab (``savedFilterCreate`` and its siblings)."""
