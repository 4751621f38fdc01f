"""What an audited mutation tells the audit mechanism about itself while it runs.

The mechanism (``api.graphql.audited.Audited``) opens the transaction, hands the resolver a
scope, and after the resolver returns records the event from it in the same transaction.  The
resolver fills in only what the mechanism cannot know: the affected resource, the acting key
when there is no token yet (login), a webhook that must get the payload although it is no
longer live (disable, delete), and checks to run on the recorded event before commit
(verify-on-save).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from api.audit.record import RecordedBatch, Resource

BeforeCommit = Callable[[RecordedBatch], Awaitable[None]]


@dataclass(frozen=True)
class Principal:
    """The account and actor an event is recorded for."""

    account_id: str
    account_name: str
    actor: str
    key_id: str | None


@dataclass
class AuditScope:
    action: str
    mutation: str
    principal: Principal | None = None
    affected_resource: Resource | None = None
    related_resource: Resource | None = None
    forced_webhook_id: str | None = None
    include_args: bool = True
    """False for payloads documented with ``data: {}`` (webhook delete)."""
    failure_action: str | None = None
    failure_principal: Principal | None = None
    before_commit: list[BeforeCommit] = field(default_factory=list)
    delivered_delivery_ids: set[str] = field(default_factory=set)
    """Deliveries already sent inside the transaction (verify-on-save): not to be enqueued again."""
