"""GraphQL surface of the webhook: read it with its health and log, set, enable, disable, delete,
test, redeliver.  ADMIN only; every mutation is audited."""

from __future__ import annotations

import strawberry

from api.audit.record import RecordedBatch, Resource
from api.graphql.audited import Audited
from api.graphql.context import AppInfo, RequestContext
from api.graphql.webhook_types import (
    AuditTrailDelivery,
    AuditTrailWebhook,
    AuditTrailWebhookInput,
    DeliveryRef,
)
from api.models import Role, Webhook
from api.webhooks import attempt_in_transaction, config, verify_on_save
from api.webhooks.delivery_log import get_delivery

WEBHOOK_RESOURCE = "audit_trail_webhook"


def verify_before_commit(context: RequestContext, webhook: Webhook) -> None:
    """Have the audit mechanism send this mutation's payload to ``webhook`` before it commits."""
    session, scope, services = context.session, context.audit, context.services

    async def verify(batch: RecordedBatch) -> None:
        [delivery_id] = batch.delivery_ids  # the saved webhook is owed this one payload
        await verify_on_save(session, services.verify_sender, delivery_id=delivery_id)
        scope.delivered_delivery_ids.add(delivery_id)
        await session.refresh(webhook)  # health columns were just updated by the delivery record

    scope.before_commit.append(verify)


def send_final_payload_to(context: RequestContext, webhook: Webhook | None) -> None:
    """A disable or delete payload goes to the webhook as it was, if it was receiving events."""
    if webhook is not None and webhook.enabled:
        context.audit.forced_webhook_id = webhook.id


@strawberry.type
class WebhooksQuery:
    @strawberry.field(description="The account's webhook with its health and delivery log. ADMIN only.")
    async def audit_trail_webhook(self, info: AppInfo) -> AuditTrailWebhook | None:
        identity = await info.context.require(Role.ADMIN)
        async with info.context.services.db.transaction() as session:
            webhook = await config.find_live_webhook(session, identity.account_id)
        return AuditTrailWebhook(row=webhook) if webhook is not None else None


@strawberry.type
class WebhooksMutation:
    @strawberry.mutation(
        description="Create or replace the account's webhook; an enabled one must accept this very payload"
        " (verify-on-save). ADMIN only.",
        extensions=[Audited("audit_trail_webhook.set")],
    )
    async def audit_trail_set_webhook(self, info: AppInfo, input: AuditTrailWebhookInput) -> AuditTrailWebhook:
        context = info.context
        identity = await context.require(Role.ADMIN)
        headers = (
            [(entry.key, entry.value) for entry in input.custom_headers.entries]
            if input.custom_headers  # UNSET and null both keep the stored headers
            else None
        )
        webhook = await config.set_webhook(
            context.session,
            identity.account_id,
            config.WebhookSettings(
                enabled=input.enabled,
                endpoint=input.endpoint,
                include_runs=bool(input.include_runs),
                retry_on_failure=input.retry_on_failure is not False,
                secret=input.secret or None,
                custom_headers=headers,
            ),
            service_secret_key=context.services.signing_key,
            private_endpoints_allowed=context.services.settings.private_endpoints_allowed,
        )
        context.audit.affected_resource = Resource(WEBHOOK_RESOURCE, webhook.id)
        if webhook.enabled:
            verify_before_commit(context, webhook)
        return AuditTrailWebhook(row=webhook)

    @strawberry.mutation(
        description="Enable the account's webhook after it accepts this payload. ADMIN only.",
        extensions=[Audited("audit_trail_webhook.enable")],
    )
    async def audit_trail_enable_webhook(self, info: AppInfo) -> AuditTrailWebhook:
        context = info.context
        identity = await context.require(Role.ADMIN)
        webhook = await config.set_webhook_enabled(context.session, identity.account_id, is_enabled=True)
        context.audit.affected_resource = Resource(WEBHOOK_RESOURCE, webhook.id)
        verify_before_commit(context, webhook)
        return AuditTrailWebhook(row=webhook)

    @strawberry.mutation(
        description="Disable the account's webhook; it gets this payload, then nothing more. ADMIN only.",
        extensions=[Audited("audit_trail_webhook.disable")],
    )
    async def audit_trail_disable_webhook(self, info: AppInfo) -> AuditTrailWebhook:
        context = info.context
        identity = await context.require(Role.ADMIN)
        was_enabled = (await config.get_live_webhook(context.session, identity.account_id)).enabled
        webhook = await config.set_webhook_enabled(context.session, identity.account_id, is_enabled=False)
        context.audit.affected_resource = Resource(WEBHOOK_RESOURCE, webhook.id)
        if was_enabled:
            context.audit.forced_webhook_id = webhook.id
        return AuditTrailWebhook(row=webhook)

    @strawberry.mutation(
        description="Delete the account's webhook; returns it, or null when there was none. ADMIN only.",
        extensions=[Audited("audit_trail_webhook.delete")],
    )
    async def audit_trail_delete_webhook(self, info: AppInfo) -> AuditTrailWebhook | None:
        context = info.context
        identity = await context.require(Role.ADMIN)
        context.audit.include_args = False
        webhook = await config.delete_webhook(context.session, identity.account_id)
        if webhook is None:
            return None
        context.audit.affected_resource = Resource(WEBHOOK_RESOURCE, webhook.id)
        send_final_payload_to(context, webhook)
        return AuditTrailWebhook(row=webhook)

    @strawberry.mutation(
        description="Send a signed audit_trail_webhook.test payload now and report how it went. ADMIN only.",
        extensions=[Audited("audit_trail_webhook.test")],
    )
    async def audit_trail_test_webhook(self, info: AppInfo) -> AuditTrailDelivery:
        context = info.context
        identity = await context.require(Role.ADMIN)
        webhook = await config.get_live_webhook(context.session, identity.account_id)
        session, scope, services = context.session, context.audit, context.services
        scope.affected_resource = Resource(WEBHOOK_RESOURCE, webhook.id)
        scope.forced_webhook_id = webhook.id  # a disabled webhook can be tested too
        sent = DeliveryRef()

        async def send_now(batch: RecordedBatch) -> None:
            delivery_id = batch.delivery_ids[0]
            await attempt_in_transaction(session, services.sender, services.retry_policy, delivery_id=delivery_id)
            scope.delivered_delivery_ids.add(delivery_id)  # a failed test is retried by the sweeper, if at all
            sent.row = await get_delivery(session, identity.account_id, delivery_id)

        scope.before_commit.append(send_now)
        return AuditTrailDelivery(ref=sent)

    @strawberry.mutation(
        description="Send a delivery again now (a new attempt, same body and ids). ADMIN only.",
        extensions=[Audited("audit_trail_webhook.redeliver")],
    )
    async def audit_trail_redeliver(self, info: AppInfo, id: strawberry.ID) -> AuditTrailDelivery:
        context = info.context
        identity = await context.require(Role.ADMIN)
        services = context.services
        delivery = await get_delivery(context.session, identity.account_id, str(id))
        context.audit.affected_resource = Resource("audit_trail_delivery", delivery.id)
        await attempt_in_transaction(context.session, services.sender, services.retry_policy, delivery_id=delivery.id)
        return AuditTrailDelivery.from_row(await get_delivery(context.session, identity.account_id, delivery.id))
