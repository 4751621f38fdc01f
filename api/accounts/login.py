"""``apiKeyUser``: an API key id and secret exchanged for a short-lived token, audited either way."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.keys import KEY_RESOURCE, check_key_secret, find_key_with_account
from api.accounts.tokens import IssuedToken, TokenSigner
from api.audit.actors import key_actor
from api.audit.facts import Audited, AuditedFailure, AuditFacts, Principal, Refused
from api.audit.record import Resource
from api.errors import Unauthenticated
from api.models import ApiKey

FAILED_LOGIN_ACTION = "api_key.login_failed"


@dataclass(frozen=True)
class LoggedIn:
    key: ApiKey
    token: IssuedToken


async def log_in(session: AsyncSession, *, key_id: str, secret: str, signer: TokenSigner) -> Audited[LoggedIn]:
    """A token for the key; a wrong secret for an existing key is refused and recorded in its account."""
    found = await find_key_with_account(session, key_id)
    try:
        key = await check_key_secret(session, key_id, secret)
    except Unauthenticated as refusal:
        if found is None:
            raise  # an unknown key has no account to record the attempt in
        failed_key, account = found
        principal = Principal(
            account_id=account.id, account_name=account.name, actor=key_actor(failed_key.id), key_id=failed_key.id
        )
        raise Refused(refusal, AuditedFailure(action=FAILED_LOGIN_ACTION, principal=principal)) from None
    assert found is not None  # check_key_secret refuses keys that do not exist
    account = found[1]
    principal = Principal(account_id=account.id, account_name=account.name, actor=key_actor(key.id), key_id=key.id)
    return Audited(
        LoggedIn(key=key, token=signer.issue(key)),
        AuditFacts(affected_resource=Resource(KEY_RESOURCE, key.id), acting_as=principal),
    )
