"""The one mechanism that audits a mutation.

A mutation declares itself once,
``CREATE_KEY = AuditedMutation("api_key.create", EventType.CREATE, roles=ADMIN_ONLY)``, and its
resolver calls ``CREATE_KEY.run(info, args, work)`` with one domain function.  The mechanism
opens the transaction, checks the caller's role inside it, runs the domain function, records the
event from the facts it returned (and the deliveries the event owes) in that same transaction,
verifies the webhook when the facts ask for it, commits, and only then wakes the worker.  A domain
function that raises leaves nothing behind (a failed login is recorded by the login guard instead).

A change that is one statement (a new key) can skip the transaction: ``run_in_one_statement`` sends
it and its event as one statement, which PostgreSQL commits whole or not at all.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types.base import StrawberryObjectDefinition

from api.accounts.identity_cache import IDENTITY_ACTIONS
from api.audit.changes import Change, record_change, record_change_with
from api.audit.facts import Audited, AuditedStatement, AuditFacts, Principal
from api.graphql.context import AppInfo, RequestContext
from api.models import EventType, Role
from api.observability import count_events_recorded
from api.webhooks import UnitOfWork, claim_lease_seconds, enqueue_deliveries, unit_of_work, verify_on_save

T = TypeVar("T")

Work = Callable[[AsyncSession, str], Awaitable[Audited[T]]]
"""A domain function given the unit's session and the caller's account id."""

AnonymousWork = Callable[[AsyncSession], Awaitable[Audited[T]]]
"""A domain function that finds out who acts by itself (a login)."""

StatementWork = Callable[[str], AuditedStatement[T]]
"""A domain function given the caller's account id that returns its change as a statement, unwritten."""


@dataclass(frozen=True)
class Recorded(Generic[T]):
    """What an audited mutation returns once committed: the domain result and its event's delivery."""

    result: T
    delivery_id: str | None
    """The delivery the event owes the webhook, if any (the test webhook sends it itself)."""


@dataclass(frozen=True)
class AuditedMutation:
    """Declares a mutation audited under ``action`` (``<resource>.<verb>``) and ``event_type``,
    callable by ``roles`` (none for a login, which proves who acts by itself)."""

    action: str
    event_type: EventType
    roles: tuple[Role, ...]

    async def run(self, info: AppInfo, args: Mapping[str, Any], work: Work[T]) -> Recorded[T]:
        """Run ``work`` for the authenticated caller and record the event, all in one transaction."""
        context = info.context
        async with unit_of_work(context.services.db, context.services.queue) as unit:
            caller = (await context.identity(unit.session)).require(*self.roles)
            done = await work(unit.session, caller.account_id)
            principal = done.facts.acting_as or caller.principal
            recorded = await self._record(context, unit, principal, info.field_name, args, done)
        if self.action in IDENTITY_ACTIONS:  # committed: this process's next request must not see the old row
            context.services.identities.forget_all()
        count_events_recorded("mutation", 1)  # committed: the unit has ended without raising
        return recorded

    async def run_in_one_statement(self, info: AppInfo, args: Mapping[str, Any], work: StatementWork[T]) -> Recorded[T]:
        """Record the event of the change ``work`` describes with the very statement that makes the change.

        For a change that is one statement and reads nothing first (a new key): that statement and the
        event's go to PostgreSQL as one, in autocommit, so the change and its event still commit
        together or not at all, in one round trip instead of BEGIN, change, event, COMMIT.  The caller
        is checked before, by the read every request makes (``RequestContext.require``); inside the
        transaction the same check guarded nothing more: a key revoked by a request that has not
        committed yet is seen by neither."""
        context = info.context
        caller = await context.require(*self.roles)
        done = work(caller.account_id)
        facts = done.facts
        if facts.acting_as is not None or facts.verify_webhook is not None or facts.sends_delivery_now:
            raise RuntimeError(f"{self.action}: a change in one statement records for its caller, and sends nothing")
        change = self._change(context, caller.principal, info.field_name, args, facts)
        async with context.services.db.statement() as connection:
            batch = await record_change_with(connection, change, done.change)
        count_events_recorded("mutation", 1)  # the statement has returned: it has committed
        await enqueue_deliveries(context.services.queue, batch.delivery_ids)
        return Recorded(result=done.result, delivery_id=batch.delivery_ids[0] if batch.delivery_ids else None)

    async def run_anonymous(self, info: AppInfo, args: Mapping[str, Any], work: AnonymousWork[T]) -> Recorded[T]:
        """Run ``work``, which names who acts (``facts.acting_as``), and record the event."""
        context = info.context
        async with unit_of_work(context.services.db, context.services.queue) as unit:
            done = await work(unit.session)
            if done.facts.acting_as is None:
                raise RuntimeError(f"{self.action}: an anonymous mutation must name who acted")
            recorded = await self._record(context, unit, done.facts.acting_as, info.field_name, args, done)
        count_events_recorded("mutation", 1)
        return recorded

    async def _record(
        self,
        context: RequestContext,
        unit: UnitOfWork,
        principal: Principal,
        mutation: str,
        args: Mapping[str, Any],
        done: Audited[T],
    ) -> Recorded[T]:
        facts = done.facts
        # A delivery its caller sends right after commit is not due before then: the sweeper leaves it
        # alone for one lease, and takes it up if the caller dies first.
        due_in_seconds = (
            claim_lease_seconds(context.services.sender.timeout_seconds) if facts.sends_delivery_now else 0.0
        )
        change = self._change(context, principal, mutation, args, facts)
        batch = await record_change(unit.session, change, deliveries_due_in_seconds=due_in_seconds)
        delivery_id = batch.delivery_ids[0] if batch.delivery_ids else None
        if facts.verify_webhook is not None and delivery_id is not None:
            await verify_on_save(unit.session, context.services.verify_sender, delivery_id=delivery_id)
            await unit.session.refresh(facts.verify_webhook)
        elif not facts.sends_delivery_now:
            unit.enqueue_after_commit(batch.delivery_ids)
        return Recorded(result=done.result, delivery_id=delivery_id)

    def _change(
        self,
        context: RequestContext,
        principal: Principal,
        mutation: str,
        args: Mapping[str, Any],
        facts: AuditFacts,
    ) -> Change:
        """The change as its event tells it: the mutation, the request and the arguments."""
        return Change(
            action=self.action,
            event_type=self.event_type,
            principal=principal,
            facts=facts,
            context={"mutation": mutation, "requestId": context.request_id, "userAgent": context.user_agent},
            args=audit_args(args),
            remote_ip=context.remote_ip,
        )


def plain_args(value: Any) -> Any:
    """Strawberry inputs, enums and UNSET turned into JSON-ready Python values."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, list):
        return [plain_args(item) for item in value]
    if isinstance(value, dict):
        return {key: plain_args(item) for key, item in value.items() if item is not strawberry.UNSET}
    definition = getattr(value, "__strawberry_definition__", None)
    if isinstance(definition, StrawberryObjectDefinition) and dataclasses.is_dataclass(value):
        return {
            f.name: plain_args(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if getattr(value, f.name) is not strawberry.UNSET
        }
    return value


def audit_args(args: Mapping[str, Any]) -> dict[str, Any]:
    """``data.args`` before sanitizing: an ``input`` argument is flattened, as in Spacelift's payloads."""
    plain: dict[str, Any] = plain_args(dict(args))
    flattened = plain.pop("input", None)
    if isinstance(flattened, dict):
        plain = {**flattened, **plain}
    return plain
