"""``apiKeyUser``: an API key id and secret exchanged for a short-lived token, audited either way."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime

from sqlalchemy import delete, func
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from api.accounts.keys import check_key_secret, find_key_with_account, mark_key_used
from api.accounts.tokens import IssuedToken, TokenSigner
from api.audit.actors import key_actor
from api.audit.facts import Audited, AuditFacts, Principal
from api.audit.record import Resource
from api.audit.resources import ResourceType
from api.errors import Unauthenticated
from api.models import Account, ApiKey, RevokedToken


@dataclass(frozen=True)
class LoggedIn:
    key: ApiKey
    token: IssuedToken


async def log_in(
    session: AsyncSession, *, key_id: str, secret: str, signer: TokenSigner, audience: str
) -> Audited[LoggedIn]:
    """A token for the key, for the API at ``audience``.  An unknown key id and a wrong secret are refused
    alike, after the same read and the same hash comparison, and neither writes anything here: the login
    guard around the call (``api.accounts.login_guard``) has the failure recorded."""
    found = await find_key_with_account(session, key_id)
    key = check_key_secret(found[0] if found is not None else None, secret)
    assert found is not None  # check_key_secret refuses keys that do not exist
    await mark_key_used(session, key.id)
    principal = key_principal(key, found[1])
    return Audited(
        LoggedIn(key=key, token=signer.issue(key, audience=audience)), replace(login_facts(key.id), acting_as=principal)
    )


def key_principal(key: ApiKey, account: Account) -> Principal:
    """A key acting as itself in its account: who a login, failed or not, is recorded for."""
    return Principal(account_id=account.id, account_name=account.name, actor=key_actor(key.id), key_id=key.id)


def login_facts(key_id: str) -> AuditFacts:
    """A login is recorded on the USER the key acts as, with the key as the related resource."""
    return AuditFacts(
        affected_resource=Resource(ResourceType.USER, key_id), related_resource=Resource(ResourceType.API_KEY, key_id)
    )


@dataclass(frozen=True)
class LoggedOut:
    key: ApiKey


async def log_out(
    session: AsyncSession, account_id: str, *, key_id: str, token_id: str, valid_until: int
) -> Audited[LoggedOut]:
    """``logout``: the token is refused from now on (until it would have expired); the key stays valid."""
    key = await session.get(ApiKey, key_id)
    if key is None or key.account_id != account_id:
        raise Unauthenticated("unauthorized: invalid token")
    await session.execute(
        insert(RevokedToken)
        .values(jti=token_id, key_id=key_id, expires_at=datetime.fromtimestamp(valid_until, UTC))
        .on_conflict_do_nothing(index_elements=["jti"])
    )
    return Audited(LoggedOut(key=key), login_facts(key_id))


async def forget_expired_logouts(session: AsyncSession) -> int:
    """Revoked tokens past their expiry are refused anyway: their rows go (the hourly retention job)."""
    result = await session.execute(delete(RevokedToken).where(col(RevokedToken.expires_at) < func.now()))
    return int(getattr(result, "rowcount", 0) or 0)
