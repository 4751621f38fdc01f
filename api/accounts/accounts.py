"""Accounts: the tenants every row belongs to."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from api.audit.facts import Audited, AuditFacts
from api.audit.record import Resource
from api.audit.resources import ResourceType
from api.errors import BadInput, Conflict, NotFound
from api.models import Account

ACCOUNT_NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
MIN_RETENTION_DAYS = 1
MAX_RETENTION_DAYS = 3650


def validate_account_name(name: str) -> str:
    """Account names are subdomains, so they follow DNS label rules."""
    if not ACCOUNT_NAME_PATTERN.match(name):
        raise BadInput(
            f"account name must be 1-63 lowercase letters, digits or '-' starting with a letter or digit, got {name!r}"
        )
    return name


async def create_account(session: AsyncSession, name: str, *, retention_days: int) -> Account:
    """Create a tenant; names are unique.  ``retention_days`` comes from the setting, never a literal."""
    validate_account_name(name)
    if await find_account(session, name) is not None:
        raise Conflict(f"account {name!r} already exists")
    account = Account(name=name, retention_days=retention_days)
    session.add(account)
    await session.flush()
    return account


async def create(session: AsyncSession, *, name: str, retention_days: int) -> Audited[Account]:
    """``audittrail accounts create``: a new tenant, recorded in its own trail."""
    account = await create_account(session, name, retention_days=retention_days)
    return Audited(account, AuditFacts(affected_resource=Resource(ResourceType.ACCOUNT, account.id)))


async def find_account(session: AsyncSession, name: str) -> Account | None:
    """The account called ``name``, or None (the CLI names accounts; the API never does)."""
    result = await session.execute(select(Account).where(col(Account.name) == name))
    return result.scalar_one_or_none()


async def get_account(session: AsyncSession, name: str) -> Account:
    """The account called ``name``, or NOT_FOUND."""
    account = await find_account(session, name)
    if account is None:
        raise NotFound(f"account {name!r} does not exist")
    return account


async def set_retention(session: AsyncSession, account_id: str, *, days: int) -> Audited[Account]:
    """Change how long the account's events are kept."""
    if not MIN_RETENTION_DAYS <= days <= MAX_RETENTION_DAYS:
        raise BadInput(f"retention must be between {MIN_RETENTION_DAYS} and {MAX_RETENTION_DAYS} days, got {days}")
    account = await session.get(Account, account_id)
    if account is None:
        raise NotFound("account does not exist")
    account.retention_days = days
    await session.flush()
    return Audited(account, AuditFacts(affected_resource=Resource(ResourceType.ACCOUNT, account.id)))


async def list_accounts(session: AsyncSession) -> list[Account]:
    """Every account by name, for the CLI."""
    return list((await session.execute(select(Account).order_by(Account.name))).scalars())
