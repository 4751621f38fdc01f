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
        description="Signs deliveries (X-Signature, X-Signature-256, webhook-signature); without one on create the"
        " webhook is unsigned; empty or missing on update keeps the stored secret.",
    )
    custom_headers: StringMap | None = strawberry.field(
        default=strawberry.UNSET,
        description="Replaces the custom headers; null or missing keeps the stored ones (unless the endpoint moves"
        " to another scheme, host or port: then they are dropped), no entries removes them.",
    )
    retry_on_failure: bool | None = strawberry.field(
        default=False, description="Retry 5xx, 408, 429 and network failures with backoff; null means false."
    )

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
            retry_on_failure=bool(self.retry_on_failure),
            secret=self.secret or None,
            custom_headers=headers,
        )


@strawberry.input
class AuditTrailWebhookSetHeadersInput:
    entries: list[KeyValuePair] = strawberry.field(
        description="Headers to add; a stored header of the same name (any case) is replaced."
    )

    def pairs(self) -> list[tuple[str, str]]:
        return [(entry.key, entry.value) for entry in self.entries]


@strawberry.input
class AuditTrailWebhookDeleteHeadersInput:
    keys: list[str] = strawberry.field(
        description="Names of the headers to remove (any case); absent ones are ignored."
    )
