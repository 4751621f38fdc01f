"""Mutations of the webhook, each audited; the domain verbs say where each payload goes."""

from __future__ import annotations

from functools import partial

import strawberry

from api import webhooks
from api.graphql.audited import AuditedMutation
from api.graphql.context import AppInfo
from api.graphql.permissions import ADMIN_ONLY
from api.graphql.webhooks.inputs import (
    AuditTrailWebhookDeleteHeadersInput,
    AuditTrailWebhookInput,
    AuditTrailWebhookSetHeadersInput,
)
from api.graphql.webhooks.types import AuditTrailDelivery, AuditTrailWebhook
from api.models import EventType

# Spacelift records every webhook change, the final delete included, as an UPDATE of the account.
SET_WEBHOOK = AuditedMutation("audit_trail_webhook.set", EventType.UPDATE, roles=ADMIN_ONLY)
ENABLE_WEBHOOK = AuditedMutation("audit_trail_webhook.enable", EventType.UPDATE, roles=ADMIN_ONLY)
DISABLE_WEBHOOK = AuditedMutation("audit_trail_webhook.disable", EventType.UPDATE, roles=ADMIN_ONLY)
DELETE_WEBHOOK = AuditedMutation("audit_trail_webhook.delete", EventType.UPDATE, roles=ADMIN_ONLY)
SET_HEADERS = AuditedMutation("audit_trail_webhook.set_headers", EventType.UPDATE, roles=ADMIN_ONLY)
DELETE_HEADERS = AuditedMutation("audit_trail_webhook.delete_headers", EventType.UPDATE, roles=ADMIN_ONLY)
TEST_WEBHOOK = AuditedMutation("audit_trail_webhook.test", EventType.UPDATE, roles=ADMIN_ONLY)
REDELIVER = AuditedMutation("audit_trail_webhook.redeliver", EventType.UPDATE, roles=ADMIN_ONLY)


@strawberry.type
class WebhooksMutation:
    @strawberry.mutation(
        description="Create or replace the account's webhook; an enabled one must accept this very payload"
        " (verify-on-save). ADMIN only."
    )
    async def audit_trail_set_webhook(self, info: AppInfo, input: AuditTrailWebhookInput) -> AuditTrailWebhook:
        services = info.context.services
        configure = partial(
            webhooks.configure,
            wanted=input.to_settings(),
            service_secret_key=services.signing_key,
            endpoint_guard=services.sender.guard,
        )
        saved = await SET_WEBHOOK.run(info, {"input": input}, configure)
        return AuditTrailWebhook.from_row(saved.result)

    @strawberry.mutation(description="Enable the account's webhook after it accepts this payload. ADMIN only.")
    async def audit_trail_enable_webhook(self, info: AppInfo) -> AuditTrailWebhook:
        enabled = await ENABLE_WEBHOOK.run(info, {}, webhooks.enable)
        return AuditTrailWebhook.from_row(enabled.result)

    @strawberry.mutation(
        description="Disable the account's webhook; it gets this payload, then nothing more. ADMIN only."
    )
    async def audit_trail_disable_webhook(self, info: AppInfo) -> AuditTrailWebhook:
        disabled = await DISABLE_WEBHOOK.run(info, {}, webhooks.disable)
        return AuditTrailWebhook.from_row(disabled.result)

    @strawberry.mutation(
        description="Delete the account's webhook; returns it, or null when there was none. ADMIN only."
    )
    async def audit_trail_delete_webhook(self, info: AppInfo) -> AuditTrailWebhook | None:
        deleted = await DELETE_WEBHOOK.run(info, {}, webhooks.delete)
        return AuditTrailWebhook.from_row(deleted.result) if deleted.result is not None else None

    @strawberry.mutation(description="Add custom headers or replace those of the same name. ADMIN only.")
    async def audit_trail_webhook_set_headers(
        self, info: AppInfo, input: AuditTrailWebhookSetHeadersInput
    ) -> AuditTrailWebhook:
        key = info.context.services.signing_key
        change = partial(webhooks.set_headers, entries=input.pairs(), service_secret_key=key)
        changed = await SET_HEADERS.run(info, {"input": input}, change)
        return AuditTrailWebhook.from_row(changed.result)

    @strawberry.mutation(description="Remove custom headers by name. ADMIN only.")
    async def audit_trail_webhook_delete_headers(
        self, info: AppInfo, input: AuditTrailWebhookDeleteHeadersInput
    ) -> AuditTrailWebhook:
        key = info.context.services.signing_key
        change = partial(webhooks.delete_headers, names=list(input.keys), service_secret_key=key)
        changed = await DELETE_HEADERS.run(info, {"input": input}, change)
        return AuditTrailWebhook.from_row(changed.result)

    @strawberry.mutation(
        description="Send a signed audit_trail_webhook.test payload now and report how it went. ADMIN only."
    )
    async def audit_trail_test_webhook(self, info: AppInfo) -> AuditTrailDelivery:
        tested = await TEST_WEBHOOK.run(info, {}, webhooks.prepare_test)
        if tested.delivery_id is None:
            raise RuntimeError("the test event owes its webhook a delivery")
        services = info.context.services
        # A failed test is not retried at once; the sweeper takes it up like any other delivery, if at all.
        await webhooks.deliver_now(services.db, services.sender, services.retry_policy, delivery_id=tested.delivery_id)
        return await _delivery(info, tested.result.account_id, tested.delivery_id)

    @strawberry.mutation(description="Send a delivery again now (a new attempt, same body and ids). ADMIN only.")
    async def audit_trail_redeliver(self, info: AppInfo, id: strawberry.ID) -> AuditTrailDelivery:
        requested = await REDELIVER.run(info, {"id": id}, partial(webhooks.prepare_redelivery, delivery_id=str(id)))
        services, delivery = info.context.services, requested.result
        await webhooks.redeliver(
            services.db, services.sender, services.retry_policy, account_id=delivery.account_id, delivery_id=delivery.id
        )
        return await _delivery(info, delivery.account_id, delivery.id)


async def _delivery(info: AppInfo, account_id: str, delivery_id: str) -> AuditTrailDelivery:
    """The delivery as its attempt was just recorded."""
    async with info.context.reading() as session:
        return AuditTrailDelivery.from_row(await webhooks.get_delivery(session, account_id, delivery_id))
