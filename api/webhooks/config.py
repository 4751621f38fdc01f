"""The account's one webhook: set (create or replace), enable, disable, delete, test, read.

The verbs the audited mutations call return ``Audited`` results: the facts say which webhook
gets the event's payload (the final payload of a disable or delete goes to the webhook as it
was) and whether the endpoint must accept it before anything commits (verify-on-save).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from api.audit.facts import Audited, AuditFacts
from api.audit.record import Resource
from api.digests import sha256_hex
from api.errors import BadInput, NotFound
from api.models import Webhook, utcnow
from api.webhooks.crypto import encrypt_headers, encrypt_text
from api.webhooks.deliveries import cancel_pending_deliveries
from api.webhooks.validation import validate_custom_headers, validate_endpoint, validate_secret

WEBHOOK_RESOURCE = "audit_trail_webhook"
DELIVERY_RESOURCE = "audit_trail_delivery"


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
    webhook = await find_live_webhook(session, account_id)
    if webhook is None:
        raise NotFound("this account has no webhook; create one with auditTrailSetWebhook")
    return webhook


async def _lock_account_webhooks(session: AsyncSession, account_id: str) -> None:
    # Changes to one account's webhook are serialized: two concurrent creates would otherwise both
    # find no webhook and one would hit the one-live-webhook unique index.  An advisory lock rather
    # than the account row: verify-on-save holds it across the HTTP call, and a row lock would make
    # every key created in the account (its foreign key check) wait for the endpoint meanwhile.
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtext('webhook:' || :account_id))"), {"account_id": account_id}
    )


def final_payload_to(webhook: Webhook | None) -> str | None:
    """The webhook that gets a disable or delete payload: the one being changed, if it was receiving events."""
    return webhook.id if webhook is not None and webhook.enabled else None


def _facts(webhook: Webhook, **facts: Any) -> AuditFacts:
    return AuditFacts(affected_resource=Resource(WEBHOOK_RESOURCE, webhook.id), **facts)


async def configure(
    session: AsyncSession,
    account_id: str,
    *,
    wanted: WebhookSettings,
    service_secret_key: str,
    private_endpoints_allowed: bool,
) -> Audited[Webhook]:
    """``auditTrailSetWebhook``: an enabled webhook must accept this very event before it commits."""
    webhook = await set_webhook(
        session,
        account_id,
        wanted,
        service_secret_key=service_secret_key,
        private_endpoints_allowed=private_endpoints_allowed,
    )
    return Audited(webhook, _facts(webhook, verify_endpoint=webhook.endpoint if webhook.enabled else None))


async def enable(session: AsyncSession, account_id: str) -> Audited[Webhook]:
    """``auditTrailEnableWebhook``: the endpoint must accept this very event first."""
    webhook = await set_webhook_enabled(session, account_id, is_enabled=True)
    return Audited(webhook, _facts(webhook, verify_endpoint=webhook.endpoint))


async def disable(session: AsyncSession, account_id: str) -> Audited[Webhook]:
    """``auditTrailDisableWebhook``: this event is the last one the webhook gets."""
    final_to = final_payload_to(await get_live_webhook(session, account_id))
    webhook = await set_webhook_enabled(session, account_id, is_enabled=False)
    return Audited(webhook, _facts(webhook, final_payload_webhook_id=final_to))


async def delete(session: AsyncSession, account_id: str) -> Audited[Webhook | None]:
    """``auditTrailDeleteWebhook``: this event (``data: {}``) is the last one the webhook gets."""
    webhook = await delete_webhook(session, account_id)
    if webhook is None:
        return Audited(None, AuditFacts(records_args=False))
    return Audited(webhook, _facts(webhook, records_args=False, final_payload_webhook_id=final_payload_to(webhook)))


async def prepare_test(session: AsyncSession, account_id: str) -> Audited[Webhook]:
    """``auditTrailTestWebhook``: this event goes to the webhook, enabled or not, sent by the caller at once."""
    webhook = await get_live_webhook(session, account_id)
    return Audited(webhook, _facts(webhook, final_payload_webhook_id=webhook.id, sends_delivery_now=True))


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
        webhook.secret_sha = sha256_hex(secret)
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
