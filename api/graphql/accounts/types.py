"""GraphQL types of accounts and keys, each built from its row by one ``from_*`` constructor."""

from __future__ import annotations

import time

import strawberry

from api.accounts.identity import Identity
from api.accounts.keys import CreatedKey
from api.accounts.login import LoggedIn, LoggedOut
from api.graphql.scalars import unix_seconds
from api.models import Account as AccountRow
from api.models import ApiKey as ApiKeyRow
from api.models import Role

ApiKeyRole = strawberry.enum(Role, name="ApiKeyRole")


API_KEY_USER_TYPE = "API_KEY"


@strawberry.type
class User:
    """An API key acting as a user (Spacelift's ``apiKeyUser`` and ``logout`` results)."""

    id: strawberry.ID
    login: str = strawberry.field(description="What the user's actor names: the key id, as in `api::<key id>`.")
    name: str
    type: str = strawberry.field(description="API_KEY: every user of this service is an API key.")
    jwt: str = strawberry.field(description="The token; empty in logout's answer (that token is now refused).")
    valid_until: int = strawberry.field(description="Unix seconds after which the token is refused.")

    @classmethod
    def from_login(cls, logged_in: LoggedIn) -> User:
        key, token = logged_in.key, logged_in.token
        return cls(
            id=strawberry.ID(key.id),
            login=key.id,
            name=key.name,
            type=API_KEY_USER_TYPE,
            jwt=token.jwt,
            valid_until=token.valid_until,
        )

    @classmethod
    def from_logout(cls, logged_out: LoggedOut) -> User:
        key = logged_out.key
        return cls(
            id=strawberry.ID(key.id),
            login=key.id,
            name=key.name,
            type=API_KEY_USER_TYPE,
            jwt="",
            valid_until=int(time.time()),
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


@strawberry.type(description="The running build, for clients that probe it (spacectl does on every start).")
class DebugInfo:
    commit_sha: str = strawberry.field(description="The build's git commit when known, else empty.")
    self_hosted_version: str = strawberry.field(
        description="Always empty: this is not a Spacelift Self-Hosted release, so clients take their default paths."
    )
    version: str = strawberry.field(description="This service's own version.")
