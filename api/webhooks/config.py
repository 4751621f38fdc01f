"""The account's one webhook: set (create or replace), enable, disable, delete, read."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from api.audit.sanitize import secret_sha
from api.errors import BadInput, NotFound
from api.models import Webhook, utcnow
from api.webhooks.attempts import cancel_pending_deliveries
from api.webhooks.crypto import encrypt_headers, encrypt_text
from api.webhooks.validation import validate_custom_headers, validate_endpoint, validate_secret


@dataclass(frozen=True)
class WebhookSettings:
    """What ``auditTrailSetWebhook`` asks for.  ``secret``/``custom_headers`` None: keep the stored ones."""

    enabled: bool
    endpoint: str
    include_runs: bool = False
    retry_on_failure: bool = True
    secret: str | None = None
    custom_headers: list[tuple[str, str]] | None = None


async def find_live_webhook(session: AsyncSession, account_id: str) -> Webhook | None:
    """The account's webhook, unless it was deleted."""
    result = await session.execute(
        select(Webhook)
        .where(col(Webhook.account_id) == account_id)
        .where(col(Webhook.deleted_at).is_(None))
        .execution_options(populate_existing=True)
    )
    return result.scalar_one_or_none()


async def get_live_webhook(session: AsyncSession, account_id: str) -> Webhook:
    """The account's webhook, or NOT_FOUND when it has none."""
    webhook = await find_live_webhook(session, account_id)
    if webhook is None:
        raise NotFound("this account has no webhook; create one with auditTrailSetWebhook")
    return webhook


async def _lock_account_webhooks(session: AsyncSession, account_id: str) -> None:
    # Changes to one account's webhook are serialized: two concurrent creates would otherwise both
    # find no webhook and one would hit the one-live-webhook unique index.
    await session.execute(text("SELECT id FROM accounts WHERE id = :id FOR UPDATE"), {"id": account_id})


async def set_webhook(
    session: AsyncSession,
    account_id: str,
    wanted: WebhookSettings,
    *,
    service_secret_key: str,
    private_endpoints_allowed: bool,
) -> Webhook:
    """Create the account's webhook or replace the settings of the existing one (same row, same log).

    Plain fields are replaced; the write-only ones (secret, header values) are kept when not given,
    because no client can read them back to send them again.
    """
    endpoint = await validate_endpoint(wanted.endpoint, private_allowed=private_endpoints_allowed)
    secret = validate_secret(wanted.secret) if wanted.secret else None
    headers = validate_custom_headers(wanted.custom_headers) if wanted.custom_headers is not None else None
    await _lock_account_webhooks(session, account_id)
    webhook = await find_live_webhook(session, account_id)
    if webhook is None:
        if secret is None:
            raise BadInput("secret is required when creating the webhook (1-256 characters)")
        webhook = Webhook(
            account_id=account_id, enabled=wanted.enabled, endpoint=endpoint, secret_encrypted="", secret_sha=""
        )
        session.add(webhook)
    webhook.enabled = wanted.enabled
    webhook.endpoint = endpoint
    webhook.include_runs = wanted.include_runs
    webhook.retry_on_failure = wanted.retry_on_failure
    if secret is not None:
        webhook.secret_encrypted = encrypt_text(service_secret_key, secret)
        webhook.secret_sha = secret_sha(secret)
    if headers is not None:
        webhook.custom_headers_encrypted = encrypt_headers(service_secret_key, headers)
        webhook.custom_header_names = [name for name, _ in headers]
    webhook.updated_at = utcnow()
    await session.flush()
    return webhook


async def set_webhook_enabled(session: AsyncSession, account_id: str, *, is_enabled: bool) -> Webhook:
    """Turn the account's webhook on or off."""
    await _lock_account_webhooks(session, account_id)
    webhook = await get_live_webhook(session, account_id)
    webhook.enabled = is_enabled
    webhook.updated_at = utcnow()
    await session.flush()
    return webhook


async def delete_webhook(session: AsyncSession, account_id: str) -> Webhook | None:
    """Soft-delete the account's webhook (the row stays for its final payload); None when there is none.

    Its other pending deliveries are settled as FAILED: nothing but the delete payload goes there now.
    """
    await _lock_account_webhooks(session, account_id)
    webhook = await find_live_webhook(session, account_id)
    if webhook is None:
        return None
    await cancel_pending_deliveries(session, webhook.id, reason="the webhook was deleted before this was delivered")
    webhook.deleted_at = utcnow()
    webhook.updated_at = webhook.deleted_at
    await session.flush()
    return webhook
