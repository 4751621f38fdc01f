"""GraphQL inputs of the webhook (Spacelift's ``AuditTrailWebhookInput`` and its ``StringMap``)."""

from __future__ import annotations

import strawberry

from api.webhooks.config import WebhookSettings


@strawberry.input
class KeyValuePair:
    key: str
    value: str


@strawberry.input
class StringMap:
    entries: list[KeyValuePair]


@strawberry.input
class AuditTrailWebhookInput:
    enabled: bool
    endpoint: str
    include_runs: bool | None = False
    secret: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="Required on create; empty or missing on update keeps the stored secret.",
    )
    custom_headers: StringMap | None = strawberry.field(
        default=strawberry.UNSET,
        description="Replaces the custom headers; missing keeps the stored ones, no entries removes them.",
    )
    retry_on_failure: bool | None = True

    def to_settings(self) -> WebhookSettings:
        headers = (
            [(entry.key, entry.value) for entry in self.custom_headers.entries]
            if self.custom_headers  # UNSET and null both keep the stored headers
            else None
        )
        return WebhookSettings(
            enabled=self.enabled,
            endpoint=self.endpoint,
            include_runs=bool(self.include_runs),
            retry_on_failure=self.retry_on_failure is not False,
            secret=self.secret or None,
            custom_headers=headers,
        )
