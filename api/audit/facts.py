"""What an audited change tells the audit mechanism about itself: returned, never set on a context.

A domain function behind an audited mutation returns ``Audited(result, facts)``; the mechanism
(``api.graphql.audited``) records the event from those facts in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from api.audit.record import ChangeStatement, Resource
from api.models import Webhook

T = TypeVar("T")


@dataclass(frozen=True)
class Principal:
    """The account and actor an event is recorded for."""

    account_id: str
    account_name: str
    actor: str
    key_id: str | None


@dataclass(frozen=True)
class AuditFacts:
    """The facts of one audited change that only the code doing it can know."""

    affected_resource: Resource | None = None
    related_resource: Resource | None = None
    acting_as: Principal | None = None
    """Who acted, when no token says so (a login names the key it logged in with)."""
    final_payload_webhook_id: str | None = None
    """A webhook that gets this event although it no longer receives events (disable, delete)."""
    records_args: bool = True
    """False for payloads documented with ``data: {}`` (webhook delete)."""
    verify_webhook: Webhook | None = None
    """Verify-on-save: this webhook must accept the event's delivery before anything commits (and is
    re-read afterwards: recording the delivery updates its health)."""
    sends_delivery_now: bool = False
    """The caller sends this event's delivery itself right after commit (the test webhook)."""


@dataclass(frozen=True)
class Audited(Generic[T]):
    """A domain function's result with the facts its audit event is recorded from."""

    result: T
    facts: AuditFacts


@dataclass(frozen=True)
class AuditedStatement(Generic[T]):
    """A change not yet written: the statement that writes it, sent with its event's as one statement
    (``AuditedMutation.run_in_one_statement``), the result it will have, and the facts of its event."""

    result: T
    facts: AuditFacts
    change: ChangeStatement
