"""GraphQL surface of accounts and keys: login, viewer, key management."""

from __future__ import annotations

import strawberry

from api.accounts import keys as key_store
from api.accounts.tokens import issue_token
from api.audit.record import Resource
from api.audit.scope import Principal
from api.errors import NotFound
from api.graphql.audited import Audited
from api.graphql.context import AppInfo
from api.graphql.scalars import unix_seconds
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


@strawberry.type
class Account:
    id: strawberry.ID
    name: str
    retention_days: int


@strawberry.type
class Viewer:
    id: strawberry.ID
    name: str
    role: ApiKeyRole  # type: ignore[valid-type]  # strawberry enum wrapper
    account: Account


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


@strawberry.input
class ApiKeyCreateInput:
    name: str
    role: ApiKeyRole  # type: ignore[valid-type]  # strawberry enum wrapper


@strawberry.type
class AccountsQuery:
    @strawberry.field(description="Who the bearer token belongs to.")
    async def viewer(self, info: AppInfo) -> Viewer:
        identity = await info.context.identity()
        return Viewer(
            id=strawberry.ID(identity.key_id),
            name=identity.key_name,
            role=identity.role,
            account=Account(
                id=strawberry.ID(identity.account_id),
                name=identity.account_name,
                retention_days=identity.retention_days,
            ),
        )

    @strawberry.field(description="The account's API keys, revoked ones included. ADMIN only.")
    async def api_keys(self, info: AppInfo) -> list[ApiKey]:
        identity = await info.context.require(Role.ADMIN)
        async with info.context.services.db.transaction() as session:
            rows = await key_store.list_keys(session, identity.account_id)
        return [ApiKey.from_row(row) for row in rows]


@strawberry.type
class AccountsMutation:
    @strawberry.mutation(
        description="Exchange an API key id and secret for a short-lived JWT.",
        extensions=[Audited("api_key.login", omit_args=("secret",))],
    )
    async def api_key_user(self, info: AppInfo, id: strawberry.ID, secret: str) -> User | None:
        context = info.context
        found = await key_store.find_key_with_account(context.session, str(id))
        if found is not None:
            key_row, account = found
            context.audit.failure_action = "api_key.login_failed"
            context.audit.failure_principal = Principal(
                account_id=account.id,
                account_name=account.name,
                actor=f"api_key::{key_row.id}",
                key_id=key_row.id,
            )
        key = await key_store.check_key_secret(context.session, str(id), secret)
        assert found is not None  # check_key_secret raised otherwise
        account = found[1]
        context.audit.principal = Principal(
            account_id=account.id, account_name=account.name, actor=f"api_key::{key.id}", key_id=key.id
        )
        context.audit.affected_resource = Resource("api_key", key.id)
        token = issue_token(key, context.services.signing_key, context.services.settings.jwt_lifetime_seconds)
        return User(id=strawberry.ID(key.id), name=key.name, jwt=token.jwt, valid_until=token.valid_until)

    @strawberry.mutation(
        description="Create an API key in the caller's account. ADMIN only.",
        extensions=[Audited("api_key.create")],
    )
    async def api_key_create(self, info: AppInfo, input: ApiKeyCreateInput) -> ApiKeyWithSecret:
        identity = await info.context.require(Role.ADMIN)
        created = await key_store.create_key(info.context.session, identity.account_id, input.name, Role(input.role))
        info.context.audit.affected_resource = Resource("api_key", created.key.id)
        return ApiKeyWithSecret(
            id=strawberry.ID(created.key.id),
            name=created.key.name,
            role=Role(created.key.role),
            secret=created.secret,
            created_at=unix_seconds(created.key.created_at) or 0,
        )

    @strawberry.mutation(
        description="Revoke an API key of the caller's account; its tokens stop working. ADMIN only.",
        extensions=[Audited("api_key.delete")],
    )
    async def api_key_delete(self, info: AppInfo, id: strawberry.ID) -> ApiKey | None:
        identity = await info.context.require(Role.ADMIN)
        try:
            row = await key_store.revoke_key(info.context.session, str(id), identity.account_id)
        except NotFound:
            raise NotFound(f"API key {id!r} does not exist in this account or is already revoked") from None
        info.context.audit.affected_resource = Resource("api_key", row.id)
        return ApiKey.from_row(row)
