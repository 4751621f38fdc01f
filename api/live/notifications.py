"""The notifications the database sends when events commit (trigger of migration 0010)."""

from __future__ import annotations

from dataclasses import dataclass

CHANNEL = "audit_events_added"


@dataclass(frozen=True)
class Added:
    """Events of one account committed together: ``<account id> <id>,<id>,...``."""

    account_id: str
    event_ids: tuple[str, ...]


def parse_added(payload: str) -> Added | None:
    """The notification's account and ids, or None for a payload not written by our trigger."""
    account_id, _, ids = payload.partition(" ")
    event_ids = tuple(event_id for event_id in ids.split(",") if event_id)
    if not account_id or not event_ids:
        return None
    return Added(account_id=account_id, event_ids=event_ids)
