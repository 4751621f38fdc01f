"""The account's one webhook: set (create or replace), enable, disable, delete, test, read.

The verbs the audited mutations call return ``Audited`` results: the facts say which webhook
gets the event's payload (the final payload of a disable or delete goes to the webhook as it
was) and whether the endpoint must accept it before anything commits (verify-on-save).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from api.audit.facts import Audited, AuditFacts
from api.audit.record import Resource
from api.audit.resources import ResourceType
from api.digests import sha256_hex
from api.errors import NotFound
from api.models import Webhook, utcnow
from api.webhooks.addresses import EndpointGuard
from api.webhooks.attempts import cancel_pending_deliveries
from api.webhooks.crypto import decrypt_headers, encrypt_headers, encrypt_text
from api.webhooks.validation import origin_of, validate_custom_headers, validate_endpoint, validate_secret


@dataclass(frozen=True)
class WebhookSettings:
    """What ``auditTrailSetWebhook`` asks for.  ``secret``/``custom_headers`` None: keep the stored ones
    (a new webhook without a secret is unsigned)."""

    enabled: bool
    endpoint: str
    include_runs: bool = False
    retry_on_failure: bool = False
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


async def find_deleted_webhook(session: AsyncSession, account_id: str) -> Webhook | None:
    """The account's most recently deleted webhook while none is set up (its final deliveries stay
    visible: the delete payload is delivered after the delete); None once a webhook is set up again."""
    if await find_live_webhook(session, account_id) is not None:
        return None
    return await session.scalar(
        select(Webhook)
        .where(col(Webhook.account_id) == account_id, col(Webhook.deleted_at).is_not(None))
        .order_by(col(Webhook.deleted_at).desc())
        .limit(1)
        .execution_options(populate_existing=True)
    )


async def get_live_webhook(session: AsyncSession, account_id: str) -> Webhook:
    """The account's webhook, or NOT_FOUND when it has none."""
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


def _facts(webhook: Webhook) -> AuditFacts:
    """Spacelift records webhook changes as UPDATEs of the account; the webhook is the related resource."""
    return AuditFacts(
        affected_resource=Resource(ResourceType.ACCOUNT, webhook.account_id),
        related_resource=Resource(ResourceType.AUDIT_TRAIL_WEBHOOK, webhook.id),
    )


async def configure(
    session: AsyncSession,
    account_id: str,
    *,
    wanted: WebhookSettings,
    service_secret_key: str,
    endpoint_guard: EndpointGuard,
) -> Audited[Webhook]:
    """``auditTrailSetWebhook``: an enabled webhook must accept this very event before it commits."""
    webhook = await set_webhook(
        session,
        account_id,
        wanted,
        service_secret_key=service_secret_key,
        endpoint_guard=endpoint_guard,
    )
    return Audited(webhook, replace(_facts(webhook), verify_webhook=webhook if webhook.enabled else None))


async def enable(session: AsyncSession, account_id: str) -> Audited[Webhook]:
    """``auditTrailEnableWebhook``: the endpoint must accept this very event first."""
    webhook = await set_webhook_enabled(session, account_id, is_enabled=True)
    return Audited(webhook, replace(_facts(webhook), verify_webhook=webhook))


async def disable(session: AsyncSession, account_id: str) -> Audited[Webhook]:
    """``auditTrailDisableWebhook``: this event is the last one the webhook gets."""
    await _lock_account_webhooks(session, account_id)
    webhook = await get_live_webhook(session, account_id)
    final_to = final_payload_to(webhook)  # as it was: enabled or not before this change
    await _switch(session, webhook, is_enabled=False)
    return Audited(webhook, replace(_facts(webhook), final_payload_webhook_id=final_to))


async def delete(session: AsyncSession, account_id: str) -> Audited[Webhook | None]:
    """``auditTrailDeleteWebhook``: this event (``data: {}``) is the last one the webhook gets."""
    webhook = await delete_webhook(session, account_id)
    if webhook is None:
        return Audited(None, AuditFacts(records_args=False))
    return Audited(
        webhook, replace(_facts(webhook), records_args=False, final_payload_webhook_id=final_payload_to(webhook))
    )


async def prepare_test(session: AsyncSession, account_id: str) -> Audited[Webhook]:
    """``auditTrailTestWebhook``: this event goes to the webhook, enabled or not, sent by the caller at once."""
    webhook = await get_live_webhook(session, account_id)
    return Audited(webhook, replace(_facts(webhook), final_payload_webhook_id=webhook.id, sends_delivery_now=True))


async def set_webhook(
    session: AsyncSession,
    account_id: str,
    wanted: WebhookSettings,
    *,
    service_secret_key: str,
    endpoint_guard: EndpointGuard,
) -> Webhook:
    """Create the account's webhook or replace the settings of the existing one (same row, same log).

    Plain fields are replaced; the write-only ones (secret, header values) are kept when not given,
    because no client can read them back to send them again.  Custom headers usually carry a
    collector's credentials: when the endpoint moves to another origin (scheme, host, port) they
    are dropped unless this same call gives them again, so they never follow it silently.
    """
    endpoint = await validate_endpoint(wanted.endpoint, endpoint_guard)
    secret = validate_secret(wanted.secret) if wanted.secret else None
    headers = validate_custom_headers(wanted.custom_headers) if wanted.custom_headers is not None else None
    await _lock_account_webhooks(session, account_id)
    webhook = await find_live_webhook(session, account_id)
    if webhook is None:
        webhook = Webhook(account_id=account_id, enabled=wanted.enabled, endpoint=endpoint)
        session.add(webhook)
    elif headers is None and origin_of(webhook.endpoint) != origin_of(endpoint):
        headers = []
    webhook.enabled = wanted.enabled
    webhook.endpoint = endpoint
    webhook.include_runs = wanted.include_runs
    webhook.retry_on_failure = wanted.retry_on_failure
    if secret is not None:
        webhook.secret_encrypted = encrypt_text(service_secret_key, secret)
        webhook.secret_sha = sha256_hex(secret)
    if headers is not None:
        _store_headers(webhook, headers, service_secret_key)
    webhook.updated_at = utcnow()
    await session.flush()
    return webhook


def _store_headers(webhook: Webhook, headers: list[tuple[str, str]], service_secret_key: str) -> None:
    webhook.custom_headers_encrypted = encrypt_headers(service_secret_key, headers)
    webhook.custom_header_names = [name for name, _ in headers]


async def set_headers(
    session: AsyncSession, account_id: str, *, entries: list[tuple[str, str]], service_secret_key: str
) -> Audited[Webhook]:
    """``auditTrailWebhookSetHeaders``: add these headers, or replace the stored ones of the same name."""
    await _lock_account_webhooks(session, account_id)
    webhook = await get_live_webhook(session, account_id)
    replaced = {name.lower() for name, _ in entries}
    stored = decrypt_headers(service_secret_key, webhook.custom_headers_encrypted)
    merged = [(name, value) for name, value in stored if name.lower() not in replaced] + list(entries)
    _store_headers(webhook, validate_custom_headers(merged), service_secret_key)
    webhook.updated_at = utcnow()
    await session.flush()
    return Audited(webhook, _facts(webhook))


async def delete_headers(
    session: AsyncSession, account_id: str, *, names: list[str], service_secret_key: str
) -> Audited[Webhook]:
    """``auditTrailWebhookDeleteHeaders``: remove the headers of these names; absent ones are no change."""
    await _lock_account_webhooks(session, account_id)
    webhook = await get_live_webhook(session, account_id)
    removed = {name.lower() for name in names}
    stored = decrypt_headers(service_secret_key, webhook.custom_headers_encrypted)
    _store_headers(
        webhook, [(name, value) for name, value in stored if name.lower() not in removed], service_secret_key
    )
    webhook.updated_at = utcnow()
    await session.flush()
    return Audited(webhook, _facts(webhook))


async def set_webhook_enabled(session: AsyncSession, account_id: str, *, is_enabled: bool) -> Webhook:
    """Turn the account's webhook on or off."""
    await _lock_account_webhooks(session, account_id)
    webhook = await get_live_webhook(session, account_id)
    await _switch(session, webhook, is_enabled=is_enabled)
    return webhook


async def _switch(session: AsyncSession, webhook: Webhook, *, is_enabled: bool) -> None:
    webhook.enabled = is_enabled
    webhook.updated_at = utcnow()
    if is_enabled:
        webhook.auto_disabled_at = None
    await session.flush()


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
