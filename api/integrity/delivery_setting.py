"""The per-account switch for delivering digests as ``audit_trail.digest`` events."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from api.audit.facts import Audited, AuditFacts
from api.audit.record import Resource
from api.audit.resources import ResourceType
from api.errors import NotFound
from api.models import Account


async def set_digest_events(session: AsyncSession, account_id: str, *, enabled: bool) -> Audited[bool]:
    """Turn delivering the account's digests as events on or off; the digests are written either way."""
    account = await session.get(Account, account_id)
    if account is None:
        raise NotFound("account does not exist")
    account.digest_events = enabled
    await session.flush()
    return Audited(enabled, AuditFacts(affected_resource=Resource(ResourceType.ACCOUNT, account.id)))
