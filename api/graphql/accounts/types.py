"""GraphQL types of accounts and keys, each built from its row by one ``from_*`` constructor."""

from __future__ import annotations

import strawberry

from api.accounts.identity import Identity
from api.accounts.keys import CreatedKey
from api.accounts.login import LoggedIn
from api.graphql.scalars import unix_seconds
from api.models import Account as AccountRow
from api.models import ApiKey as ApiKeyRow
from api.models import Role

ApiKeyRole = strawberry.enum(Role, name="ApiKeyRole")


@strawberry.type
class User:
    """A key exchanged for a token (Spacelift's ``apiKeyUser`` result)."""

    id: strawberry.ID
    name: str
    jwt: str
    valid_until: int = strawberry.field(description="Unix seconds after which the token is refused.")

    @classmethod
    def from_login(cls, logged_in: LoggedIn) -> User:
        key = logged_in.key
        return cls(
            id=strawberry.ID(key.id), name=key.name, jwt=logged_in.token.jwt, valid_until=logged_in.token.valid_until
        )


@strawberry.type
class Account:
    id: strawberry.ID
    name: str
    retention_days: int

    @classmethod
    def from_row(cls, row: AccountRow) -> Account:
        return cls(id=strawberry.ID(row.id), name=row.name, retention_days=row.retention_days)


@strawberry.type
class Viewer:
    id: strawberry.ID
    name: str
    role: ApiKeyRole  # type: ignore[valid-type]  # strawberry enum wrapper
    account: Account

    @classmethod
    def from_identity(cls, identity: Identity) -> Viewer:
        return cls(
            id=strawberry.ID(identity.key_id),
            name=identity.key_name,
            role=identity.role,
            account=Account(
                id=strawberry.ID(identity.account_id),
                name=identity.account_name,
                retention_days=identity.retention_days,
            ),
        )


@strawberry.type
class ApiKey:
    id: strawberry.ID
    name: str
    role: ApiKeyRole  # type: ignore[valid-type]  # strawberry enum wrapper
    created_at: int
    last_used_at: int | None
    revoked_at: int | None

    @classmethod
    def from_row(cls, row: ApiKeyRow) -> ApiKey:
        return cls(
            id=strawberry.ID(row.id),
            name=row.name,
            role=Role(row.role),
            created_at=unix_seconds(row.created_at) or 0,
            last_used_at=unix_seconds(row.last_used_at),
            revoked_at=unix_seconds(row.revoked_at),
        )


@strawberry.type
class ApiKeyWithSecret:
    """A newly created key: the only time its secret is ever returned."""

    id: strawberry.ID
    name: str
    role: ApiKeyRole  # type: ignore[valid-type]  # strawberry enum wrapper
    secret: str
    created_at: int

    @classmethod
    def from_created(cls, created: CreatedKey) -> ApiKeyWithSecret:
        return cls(
            id=strawberry.ID(created.key.id),
            name=created.key.name,
            role=Role(created.key.role),
            secret=created.secret,
            created_at=unix_seconds(created.key.created_at) or 0,
        )
