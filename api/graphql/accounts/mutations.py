"""Mutations of accounts and keys, each audited."""

from __future__ import annotations

from functools import partial

import strawberry

from api.accounts import keys
from api.accounts.login import log_in
from api.accounts.tokens import TokenSigner
from api.graphql.accounts.inputs import ApiKeyCreateInput
from api.graphql.accounts.types import ApiKey, ApiKeyWithSecret, User
from api.graphql.audited import AuditedMutation
from api.graphql.context import AppInfo
from api.graphql.permissions import ADMIN_ONLY
from api.models import Role

LOGIN = AuditedMutation("api_key.login", roles=())
CREATE_KEY = AuditedMutation("api_key.create", roles=ADMIN_ONLY)
DELETE_KEY = AuditedMutation("api_key.delete", roles=ADMIN_ONLY)


@strawberry.type
class AccountsMutation:
    @strawberry.mutation(description="Exchange an API key id and secret for a short-lived JWT.")
    async def api_key_user(self, info: AppInfo, id: strawberry.ID, secret: str) -> User | None:
        settings = info.context.services.settings
        signer = TokenSigner(info.context.services.signing_key, settings.jwt_lifetime_seconds)
        # The secret is never part of the audit record, not even as a hash.
        logged_in = await LOGIN.run_anonymous(
            info, {"id": id}, partial(log_in, key_id=str(id), secret=secret, signer=signer)
        )
        return User.from_login(logged_in.result)

    @strawberry.mutation(description="Create an API key in the caller's account. ADMIN only.")
    async def api_key_create(self, info: AppInfo, input: ApiKeyCreateInput) -> ApiKeyWithSecret:
        created = await CREATE_KEY.run(
            info, {"input": input}, partial(keys.create, name=input.name, role=Role(input.role))
        )
        return ApiKeyWithSecret.from_created(created.result)

    @strawberry.mutation(description="Revoke an API key of the caller's account; its tokens stop working. ADMIN only.")
    async def api_key_delete(self, info: AppInfo, id: strawberry.ID) -> ApiKey | None:
        revoked = await DELETE_KEY.run(info, {"id": id}, partial(keys.revoke, key_id=str(id)))
        return ApiKey.from_row(revoked.result)
