"""Mutations of accounts and keys, each audited."""

from __future__ import annotations

from functools import partial

import strawberry

from api.accounts import keys
from api.accounts.failed_logins import LoginAttempt
from api.accounts.login import log_in, log_out
from api.audit.record import now_ms
from api.graphql.accounts.inputs import ApiKeyCreateInput
from api.graphql.accounts.types import ApiKey, ApiKeyWithSecret, User
from api.graphql.audited import AuditedMutation
from api.graphql.context import AppInfo, RequestContext
from api.graphql.permissions import ADMIN_ONLY, ANY_ROLE
from api.models import EventType, Role

LOGIN = AuditedMutation("account.login", EventType.CREATE, roles=())
CREATE_KEY = AuditedMutation("api_key.create", EventType.CREATE, roles=ADMIN_ONLY)
DELETE_KEY = AuditedMutation("api_key.delete", EventType.DELETE, roles=ADMIN_ONLY)
LOGOUT = AuditedMutation("account.logout", EventType.DELETE, roles=ANY_ROLE)


def login_attempt(context: RequestContext, key_id: str) -> LoginAttempt:
    """A login as its event tells it, should it fail."""
    return LoginAttempt(
        key_id=key_id,
        remote_ip=context.remote_ip,
        request_id=context.request_id,
        user_agent=context.user_agent,
        timestamp_ms=now_ms(),
    )


@strawberry.type
class AccountsMutation:
    @strawberry.mutation(description="Exchange an API key id and secret for a short-lived JWT.")
    async def api_key_user(self, info: AppInfo, id: strawberry.ID, secret: str) -> User | None:
        context = info.context
        login = partial(
            log_in, key_id=str(id), secret=secret, signer=context.services.tokens, audience=context.audience
        )
        async with context.services.login_guard.checking(login_attempt(context, str(id))):
            # The secret is never part of the audit record, not even as a hash.
            logged_in = await LOGIN.run_anonymous(info, {"id": id}, login)
        return User.from_login(logged_in.result)

    @strawberry.mutation(description="End the token this request carries; the API key itself stays valid.")
    async def logout(self, info: AppInfo) -> User:
        caller = await info.context.identity()
        logout = partial(log_out, key_id=caller.key_id, token_id=caller.token_id, valid_until=caller.token_valid_until)
        logged_out = await LOGOUT.run(info, {}, logout)
        return User.from_logout(logged_out.result)

    @strawberry.mutation(description="Create an API key in the caller's account. ADMIN only.")
    async def api_key_create(self, info: AppInfo, input: ApiKeyCreateInput) -> ApiKeyWithSecret:
        created = await CREATE_KEY.run_in_one_statement(
            info, {"input": input}, partial(keys.create_in_statement, name=input.name, role=Role(input.role))
        )
        return ApiKeyWithSecret.from_created(created.result)

    @strawberry.mutation(description="Revoke an API key of the caller's account; its tokens stop working. ADMIN only.")
    async def api_key_delete(self, info: AppInfo, id: strawberry.ID) -> ApiKey | None:
        revoked = await DELETE_KEY.run(info, {"id": id}, partial(keys.revoke, key_id=str(id)))
        return ApiKey.from_row(revoked.result)
