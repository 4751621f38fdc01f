"""Who is calling: resolved from a verified token and the live key row, never from arguments."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import RowMapping, Select, bindparam, exists, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from api.accounts.tokens import TokenClaims
from api.audit.actors import key_actor
from api.audit.facts import Principal
from api.errors import Forbidden, Unauthenticated
from api.models import Account, ApiKey, RevokedToken, Role
from api.raw_reads import RawReader


@dataclass(frozen=True)
class Identity:
    key_id: str
    key_name: str
    role: Role
    account_id: str
    account_name: str
    retention_days: int
    token_id: str
    token_valid_until: int

    @property
    def actor(self) -> str:
        return key_actor(self.key_id)

    @property
    def principal(self) -> Principal:
        """Who the events of this caller's changes are recorded for."""
        return Principal(
            account_id=self.account_id, account_name=self.account_name, actor=self.actor, key_id=self.key_id
        )

    @property
    def claims(self) -> TokenClaims:
        """The token this identity was verified from: what a long-lived caller (a live tail) is checked by again."""
        return TokenClaims(
            key_id=self.key_id, account_id=self.account_id, token_id=self.token_id, valid_until=self.token_valid_until
        )

    def require(self, *roles: Role) -> Identity:
        """This identity if its role is one of ``roles``; FORBIDDEN otherwise."""
        if self.role not in roles:
            allowed = " or ".join(role.value for role in roles)
            raise Forbidden(f"this operation needs an {allowed} key; this key is {self.role.value}")
        return self


# Built once, plain columns rather than ORM entities: this runs on every request.  The token's
# revocation (logout) is looked up in the same statement: one round trip for the whole check.
_KEY_AND_ACCOUNT: Select[*tuple[Any, ...]] = (
    select(
        col(ApiKey.name),
        col(ApiKey.role),
        col(ApiKey.account_id),
        col(ApiKey.revoked_at),
        col(Account.name).label("account_name"),
        col(Account.retention_days),
        exists().where(col(RevokedToken.jti) == bindparam("token_id")).label("token_revoked"),
    )
    .join(Account, col(Account.id) == ApiKey.account_id)
    .where(col(ApiKey.id) == bindparam("key_id"))
)


async def identity_from_token(session: AsyncSession, claims: TokenClaims) -> Identity:
    """Check the verified token against the key: a revoked key's tokens stop working at once."""
    row = (
        (await session.execute(_KEY_AND_ACCOUNT, {"key_id": claims.key_id, "token_id": claims.token_id}))
        .mappings()
        .one_or_none()
    )
    return _identity_of(row, claims)


async def identity_on(reader: RawReader, claims: TokenClaims) -> Identity:
    """The same check as ``identity_from_token``, the same statement, on a plain asyncpg connection
    outside any transaction: one round trip instead of BEGIN, SELECT and COMMIT (``api/raw_reads.py``)."""
    parameters = {"key_id": claims.key_id, "token_id": claims.token_id}
    rows = await reader.fetch(_KEY_AND_ACCOUNT, parameters, fixed=True)
    return _identity_of(rows[0] if rows else None, claims)


def _identity_of(row: Mapping[str, Any] | RowMapping | None, claims: TokenClaims) -> Identity:
    """The caller of a verified token, from its key's row (None: no such key), or UNAUTHENTICATED."""
    if row is None or row["account_id"] != claims.account_id:
        raise Unauthenticated("unauthorized: invalid token")
    if row["revoked_at"] is not None:
        raise Unauthenticated("unauthorized: API key revoked")
    if row["token_revoked"]:
        raise Unauthenticated("unauthorized: this token was logged out; exchange the API key again with apiKeyUser")
    return Identity(
        key_id=claims.key_id,
        key_name=row["name"],
        role=Role(row["role"]),
        account_id=row["account_id"],
        account_name=row["account_name"],
        retention_days=row["retention_days"],
        token_id=claims.token_id,
        token_valid_until=claims.valid_until,
    )
