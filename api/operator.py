"""What an operator changes with the ``audittrail`` command is audited like the API's changes.

The event's actor is ``cli::<OS user>``: the command has no token, so the OS account that ran it
is who acted.  The events go through the same recording code as a mutation's (``record_change``),
in the change's own transaction, and the deliveries they owe are enqueued once it commits.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.accounts import list_accounts
from api.audit.actors import cli_actor
from api.audit.changes import Change, record_change
from api.audit.facts import Audited, AuditFacts, Principal
from api.audit.record import Resource
from api.audit.resources import ResourceType
from api.audit.retention import RetentionReport
from api.db import Database
from api.errors import NotFound
from api.models import Account, EventType
from api.webhooks import unit_of_work

T = TypeVar("T")


@dataclass(frozen=True)
class OperatorCommand:
    """A CLI command that changes something, and the event it is recorded as."""

    command: str
    """As typed after ``audittrail`` (``keys create``); the event's ``context.command``."""
    action: str
    event_type: EventType


CREATE_ACCOUNT = OperatorCommand("accounts create", "account.create", EventType.CREATE)
CREATE_KEY = OperatorCommand("keys create", "api_key.create", EventType.CREATE)
REVOKE_KEY = OperatorCommand("keys revoke", "api_key.delete", EventType.DELETE)
RUN_RETENTION = OperatorCommand("retention run", "audit_trail.apply_retention", EventType.DELETE)


def os_user() -> str:
    """The OS account running the command; its uid when it has no name (a container's bare uid)."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return f"uid-{os.getuid()}"


def _principal(account: Account) -> Principal:
    return Principal(account_id=account.id, account_name=account.name, actor=cli_actor(os_user()), key_id=None)


def _change(
    command: OperatorCommand,
    account: Account,
    facts: AuditFacts,
    args: Mapping[str, Any],
    outcome: Mapping[str, Any] | None = None,
) -> Change:
    return Change(
        action=command.action,
        event_type=command.event_type,
        principal=_principal(account),
        facts=facts,
        context={"command": command.command},
        args=args,
        outcome=outcome,
    )


async def run_audited(
    db: Database,
    queue: ArqRedis | None,
    command: OperatorCommand,
    args: Mapping[str, Any],
    work: Callable[[AsyncSession], Awaitable[Audited[T]]],
    *,
    account_of: Callable[[T], str],
) -> T:
    """Run ``work`` and record its event in the account ``account_of(result)`` names, in one transaction."""
    async with unit_of_work(db, queue) as unit:
        done = await work(unit.session)
        account_id = account_of(done.result)
        account = await unit.session.get(Account, account_id)
        if account is None:
            raise NotFound(f"account {account_id} does not exist")
        batch = await record_change(unit.session, _change(command, account, done.facts, args))
        unit.enqueue_after_commit(batch.delivery_ids)
        return done.result


async def record_retention_run(
    db: Database, queue: ArqRedis | None, report: RetentionReport, *, batch_size: int
) -> int:
    """One event in every account's trail: its retention was applied now, and what went.

    Every account, not only those that lost rows one by one: a dropped partition held any account's
    events, so each trail says the run happened.  Returns how many events were recorded.
    """
    async with unit_of_work(db, queue) as unit:
        accounts = await list_accounts(unit.session)
        for account in accounts:
            facts = AuditFacts(affected_resource=Resource(ResourceType.ACCOUNT, account.id))
            outcome = {
                "retention_days": account.retention_days,
                "deleted_events": report.deleted_events.get(account.name, 0),
                "dropped_partitions": report.dropped_partitions,
            }
            change = _change(RUN_RETENTION, account, facts, {"batch_size": batch_size}, outcome)
            batch = await record_change(unit.session, change)
            unit.enqueue_after_commit(batch.delivery_ids)
        return len(accounts)
