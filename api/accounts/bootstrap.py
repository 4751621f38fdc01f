"""First start: an account and an ADMIN key, so a fresh install can be used at once."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.accounts import create_account
from api.accounts.keys import CreatedKey, create_key
from api.models import Account, Role

DEFAULT_ACCOUNT = "default"


async def ensure_first_account(session: AsyncSession, *, retention_days: int) -> CreatedKey | None:
    """Create account ``default`` with an ADMIN key when there is no account at all.

    Returns the key (to print once) or None when the database already had accounts, so a
    restart never makes a second key.  The advisory lock keeps two starting processes from
    both creating one.
    """
    await session.execute(select(func.pg_advisory_xact_lock(712_001)))
    if (await session.execute(select(func.count()).select_from(Account))).scalar_one() > 0:
        return None
    account = await create_account(session, DEFAULT_ACCOUNT, retention_days=retention_days)
    return await create_key(session, account.id, "bootstrap admin", Role.ADMIN)
