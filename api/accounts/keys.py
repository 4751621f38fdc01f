"""API keys: created with a secret shown once, stored as its hash, exchanged for a JWT."""

from __future__ import annotations

import dataclasses
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from api.audit.facts import Audited, AuditedStatement, AuditFacts
from api.audit.record import ChangeStatement, Resource
from api.audit.resources import ResourceType
from api.digests import sha256_hex
from api.errors import BadInput, Conflict, NotFound, Unauthenticated
from api.models import Account, ApiKey, Role, could_be_id, new_id, shown_id, utcnow

MAX_KEY_NAME_LENGTH = 200


@dataclass(frozen=True, kw_only=True)
class NewKey:
    """A key's row as created: a plain value, not the ORM's instance, which cost more to build than
    everything else ``apiKeyCreate`` does in Python before its statement (0.35 ms of CPU)."""

    id: str
    account_id: str
    name: str
    role: str
    secret_hash: str
    created_at: datetime


@dataclass(frozen=True)
class CreatedKey:
    """A new key and its secret: the only moment the secret exists outside the caller's hands."""

    key: NewKey
    secret: str


def parse_role(role: str) -> Role:
    """A role given on the command line (any case), or BAD_USER_INPUT listing the roles."""
    try:
        return Role(role.upper())
    except ValueError:
        allowed = ", ".join(r.value for r in Role)
        raise BadInput(f"role must be one of {allowed}, got {role!r}") from None


async def create_key(session: AsyncSession, account_id: str, name: str, role: Role) -> CreatedKey:
    """Create a key in the account; the returned secret is never stored."""
    created = new_key(account_id, name, role)
    # Every column given: one left to its default made pydantic inspect the default's signature per instance.
    session.add(ApiKey(**dataclasses.asdict(created.key), last_used_at=None, revoked_at=None))
    await session.flush()
    return created


def new_key(account_id: str, name: str, role: Role) -> CreatedKey:
    """A key of the account and its secret, not yet written; BAD_USER_INPUT for a name out of bounds."""
    name = name.strip()
    if not name or len(name) > MAX_KEY_NAME_LENGTH:
        raise BadInput(f"key name must be 1-{MAX_KEY_NAME_LENGTH} characters, got {len(name)}")
    secret = secrets.token_urlsafe(32)
    key = NewKey(
        id=new_id(),
        account_id=account_id,
        name=name,
        role=role.value,
        secret_hash=sha256_hex(secret),
        created_at=utcnow(),
    )
    return CreatedKey(key=key, secret=secret)


async def create(session: AsyncSession, account_id: str, *, name: str, role: Role) -> Audited[CreatedKey]:
    """``audittrail keys create``: a new key of the account, in the caller's transaction."""
    created = await create_key(session, account_id, name, role)
    return Audited(created, _created_facts(created))


_INSERT_KEY = (
    "INSERT INTO api_keys (id, account_id, name, role, secret_hash, created_at)"
    " VALUES (:key_id, :key_account_id, :key_name, :key_role, :key_secret_hash, :key_created_at)"
)


def create_in_statement(account_id: str, *, name: str, role: Role) -> AuditedStatement[CreatedKey]:
    """``apiKeyCreate``: a new key of the caller's account, written by its event's statement (one
    round trip for the key, its event and the event's delivery)."""
    created = new_key(account_id, name, role)
    key = created.key
    parameters = {
        "key_id": key.id,
        "key_account_id": key.account_id,
        "key_name": key.name,
        "key_role": key.role,
        "key_secret_hash": key.secret_hash,
        "key_created_at": key.created_at,
    }
    return AuditedStatement(created, _created_facts(created), ChangeStatement(_INSERT_KEY, parameters))


def _created_facts(created: CreatedKey) -> AuditFacts:
    return AuditFacts(affected_resource=Resource(ResourceType.API_KEY, created.key.id))


async def revoke(session: AsyncSession, account_id: str, *, key_id: str) -> Audited[ApiKey]:
    """``apiKeyDelete``: revoke a key of the caller's account, never its last live ADMIN key (the
    account could not be managed any more; the CLI, with the database at hand, still can)."""
    key = await revoke_key(session, key_id, account_id)
    if key.role == Role.ADMIN and not await _has_live_admin(session, account_id):
        raise Conflict(
            f"API key {key.id} is the account's last ADMIN key; create another ADMIN key first, then revoke this one"
        )
    return Audited(key, AuditFacts(affected_resource=Resource(ResourceType.API_KEY, key.id)))


async def revoke_any(session: AsyncSession, *, key_id: str) -> Audited[ApiKey]:
    """``audittrail keys revoke``: any account's key, its last ADMIN key too (an operator with the
    database at hand can always create another)."""
    key = await revoke_key(session, key_id)
    return Audited(key, AuditFacts(affected_resource=Resource(ResourceType.API_KEY, key.id)))


async def _has_live_admin(session: AsyncSession, account_id: str) -> bool:
    """Whether an unrevoked ADMIN key is left; the account row is locked so two concurrent revocations
    of the last two ADMIN keys cannot both pass."""
    await session.execute(select(col(Account.id)).where(col(Account.id) == account_id).with_for_update())
    found = await session.execute(
        select(col(ApiKey.id))
        .where(col(ApiKey.account_id) == account_id, col(ApiKey.role) == Role.ADMIN.value)
        .where(col(ApiKey.revoked_at).is_(None))
        .limit(1)
    )
    return found.first() is not None


async def list_keys(session: AsyncSession, account_id: str | None = None) -> list[ApiKey]:
    """Keys newest first, revoked ones included (their ``revoked_at`` says so)."""
    query = select(ApiKey).order_by(col(ApiKey.created_at).desc(), col(ApiKey.id).desc())
    if account_id is not None:
        query = query.where(col(ApiKey.account_id) == account_id)
    return list((await session.execute(query)).scalars())


async def revoke_key(session: AsyncSession, key_id: str, account_id: str | None = None) -> ApiKey:
    """Revoke a key: its tokens stop working at once, its history stays."""
    key = await session.get(ApiKey, key_id) if could_be_id(key_id) else None
    if key is None or (account_id is not None and key.account_id != account_id) or key.revoked_at is not None:
        raise NotFound(f"API key {shown_id(key_id)} does not exist in this account or is already revoked")
    key.revoked_at = utcnow()
    await session.flush()
    return key


UNKNOWN_KEY_HASH = sha256_hex(secrets.token_urlsafe(32))
"""What a secret given for an unknown key id is compared with, so that both refusals cost the same."""


def check_key_secret(key: ApiKey | None, secret: str) -> ApiKey:
    """The key if the secret matches and it is live; one vague error otherwise (no key probing).  An
    unknown key (``None``) is refused after the same hash and comparison as a wrong secret."""
    expected = key.secret_hash if key is not None else UNKNOWN_KEY_HASH
    matches = hmac.compare_digest(expected, sha256_hex(secret))
    if key is None or not matches or key.revoked_at is not None:
        raise Unauthenticated("unauthorized: invalid API key id or secret")
    return key


async def mark_key_used(session: AsyncSession, key_id: str) -> None:
    """``last_used_at`` of a key that just logged in."""
    await session.execute(update(ApiKey).where(col(ApiKey.id) == key_id).values(last_used_at=utcnow()))


async def find_key_with_account(session: AsyncSession, key_id: str) -> tuple[ApiKey, Account] | None:
    """The key and its account, for naming the actor of a login attempt before it is checked."""
    if not could_be_id(key_id):
        return None
    row = (
        await session.execute(
            select(ApiKey, Account).join(Account, col(Account.id) == ApiKey.account_id).where(col(ApiKey.id) == key_id)
        )
    ).one_or_none()
    return (row[0], row[1]) if row is not None else None
