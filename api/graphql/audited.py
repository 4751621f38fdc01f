"""The one mechanism that audits a mutation: ``extensions=[Audited("api_key.create")]``.

It opens the transaction, runs the resolver inside it, records the event (and the webhook
deliveries it owes) in that same transaction, runs the resolver's before-commit checks, commits,
and only then wakes the worker.  A resolver that raises leaves nothing behind, unless it named
a ``failure_action`` (a failed login), which is then recorded in a transaction of its own.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Awaitable, Callable
from typing import Any

import strawberry
import structlog
from strawberry.extensions import FieldExtension
from strawberry.types.base import StrawberryObjectDefinition

from api.audit.record import EventDraft, RecordedBatch, now_ms, record_events
from api.audit.sanitize import sanitize_args
from api.audit.scope import AuditScope, Principal
from api.errors import AppError
from api.graphql.context import AppInfo, RequestContext
from api.webhooks.queue import enqueue_deliveries

log = structlog.get_logger(__name__)


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


def audit_args(kwargs: dict[str, Any], omit: frozenset[str]) -> dict[str, Any]:
    """``data.args``: an ``input`` argument is flattened, as in Spacelift's payloads."""
    args = {name: value for name, value in plain_args(kwargs).items() if name not in omit}
    flattened = args.pop("input", None)
    if isinstance(flattened, dict):
        args = {**flattened, **args}
    return sanitize_args(args)


class Audited(FieldExtension):
    """Declares a mutation audited under ``action`` (``<resource>.<verb>``)."""

    def __init__(self, action: str, *, omit_args: tuple[str, ...] = ()) -> None:
        self.action = action
        self.omit_args = frozenset(omit_args)

    def resolve(self, next_: Callable[..., Any], source: Any, info: AppInfo, **kwargs: Any) -> Any:
        raise RuntimeError("audited mutations must be async")

    async def resolve_async(
        self, next_: Callable[..., Awaitable[Any]], source: Any, info: AppInfo, **kwargs: Any
    ) -> Any:
        context = info.context
        scope = AuditScope(action=self.action, mutation=info.field_name)
        args = audit_args(kwargs, self.omit_args)
        try:
            async with context.services.db.transaction() as session:
                context.open_unit(session, scope)
                result = await next_(source, info, **kwargs)
                if scope.principal is None:
                    scope.principal = await principal_of(context)
                batch = await self._record(context, scope, scope.principal, self.action, args)
                for check in scope.before_commit:
                    await check(batch)
        except AppError:
            context.close_unit()
            if scope.failure_action and scope.failure_principal:
                await self._record_failure(context, scope, scope.failure_principal, args)
            raise
        finally:
            context.close_unit()
        pending = [d for d in batch.delivery_ids if d not in scope.delivered_delivery_ids]
        await enqueue_deliveries(context.services.queue, pending)
        return result

    async def _record(
        self,
        context: RequestContext,
        scope: AuditScope,
        principal: Principal,
        action: str,
        args: dict[str, Any],
    ) -> RecordedBatch:
        draft = EventDraft(
            action=action,
            actor=principal.actor,
            timestamp_ms=now_ms(),
            context={
                "mutation": scope.mutation,
                "requestId": context.request_id,
                "userAgent": context.user_agent,
            },
            data={"args": args} if scope.include_args else {},
            remote_ip=context.remote_ip,
            affected_resource=scope.affected_resource,
            related_resource=scope.related_resource,
        )
        return await record_events(
            context.session,
            [draft],
            account_id=principal.account_id,
            account_name=principal.account_name,
            recorded_by=principal.key_id,
            forced_webhook_id=scope.forced_webhook_id,
        )

    async def _record_failure(
        self, context: RequestContext, scope: AuditScope, principal: Principal, args: dict[str, Any]
    ) -> None:
        assert scope.failure_action is not None
        failure_scope = AuditScope(action=scope.failure_action, mutation=scope.mutation)
        async with context.services.db.transaction() as session:
            context.open_unit(session, failure_scope)
            try:
                batch = await self._record(context, failure_scope, principal, scope.failure_action, args)
            finally:
                context.close_unit()
        await enqueue_deliveries(context.services.queue, batch.delivery_ids)


async def principal_of(context: RequestContext) -> Principal:
    identity = await context.identity()
    return Principal(
        account_id=identity.account_id,
        account_name=identity.account_name,
        actor=identity.actor,
        key_id=identity.key_id,
    )
