"""GraphQL types of the webhook and its delivery log, each built from its row by ``from_row``."""

from __future__ import annotations

import strawberry

from api.graphql.context import AppInfo
from api.graphql.pagination import PageInfo
from api.graphql.scalars import unix_seconds
from api.models import DeliveryStatus, Webhook, WebhookDelivery, WebhookDeliveryAttempt
from api.paging import check_page_size
from api.webhooks import explain_attempt
from api.webhooks.delivery_log import delivery_cursor, list_attempts, list_deliveries

AuditTrailDeliveryStatus = strawberry.enum(DeliveryStatus, name="AuditTrailDeliveryStatus")


@strawberry.type(description="One HTTP header.")
class AuditTrailHeader:
    name: str
    value: str


def _headers(headers: dict[str, str] | None) -> list[AuditTrailHeader] | None:
    return None if headers is None else [AuditTrailHeader(name=n, value=v) for n, v in headers.items()]


@strawberry.type(description="One attempt of a delivery: what was sent and what the endpoint answered.")
class AuditTrailDeliveryAttempt:
    attempt: int = strawberry.field(description="1 for the first attempt.")
    recorded_at: int = strawberry.field(description="Unix seconds when the attempt ended.")
    status_code: int | None = strawberry.field(description="The endpoint's HTTP status; null when it did not answer.")
    error: str | None = strawberry.field(description="Why there was no answer (or why nothing was sent).")
    latency_ms: int
    request_headers: list[AuditTrailHeader] = strawberry.field(
        description="The headers sent, custom header values redacted. The body is the event's `body`."
    )
    response_headers: list[AuditTrailHeader] | None = strawberry.field(
        description="The answer's headers (at most 50); null without an answer."
    )
    response_snippet: str | None = strawberry.field(description="The first KiB of the answer.")

    @classmethod
    def from_row(cls, row: WebhookDeliveryAttempt) -> AuditTrailDeliveryAttempt:
        return cls(
            attempt=row.attempt,
            recorded_at=unix_seconds(row.recorded_at) or 0,
            status_code=row.status_code,
            error=row.error,
            latency_ms=row.latency_ms,
            request_headers=_headers(row.request_headers) or [],
            response_headers=_headers(row.response_headers),
            response_snippet=row.response_snippet,
        )


@strawberry.type(description="One event owed to the webhook, and how its sending went.")
class AuditTrailDelivery:
    id: strawberry.ID
    event_id: strawberry.ID
    action: str
    status: AuditTrailDeliveryStatus  # type: ignore[valid-type]  # strawberry enum wrapper
    attempts: int = strawberry.field(description="Attempts made so far, the first one included.")
    last_status_code: int | None
    last_error: str | None = strawberry.field(description="The last attempt's error as it was raised.")
    last_attempt_summary: str | None = strawberry.field(
        description="The last attempt's failure in plain words (why a 4xx is not retried, what a refused connection"
        " means); null after a success."
    )
    last_latency_ms: int | None
    response_snippet: str | None = strawberry.field(description="The first KiB of the endpoint's last response.")
    next_attempt_at: int | None = strawberry.field(
        description="Unix seconds of the next attempt; null once delivered or failed."
    )
    created_at: int = strawberry.field(description="Unix seconds.")
    delivered_at: int | None = strawberry.field(description="Unix seconds.")

    @strawberry.field(description="Every attempt, first to last (one query per delivery: select it on one).")
    async def attempt_history(self, info: AppInfo) -> list[AuditTrailDeliveryAttempt]:
        async with info.context.reading() as session:
            rows = await list_attempts(session, str(self.id))
        return [AuditTrailDeliveryAttempt.from_row(row) for row in rows]

    @classmethod
    def from_row(cls, row: WebhookDelivery) -> AuditTrailDelivery:
        return cls(
            id=strawberry.ID(row.id),
            event_id=strawberry.ID(row.event_id),
            action=row.action,
            status=DeliveryStatus(row.status),
            attempts=row.attempts,
            last_status_code=row.last_status_code,
            last_error=row.last_error,
            last_attempt_summary=explain_attempt(status_code=row.last_status_code, error=row.last_error),
            last_latency_ms=row.last_latency_ms,
            response_snippet=row.response_snippet,
            next_attempt_at=unix_seconds(row.next_attempt_at) if row.status == DeliveryStatus.PENDING else None,
            created_at=unix_seconds(row.created_at) or 0,
            delivered_at=unix_seconds(row.delivered_at),
        )


@strawberry.type
class AuditTrailDeliveryEdge:
    cursor: str
    node: AuditTrailDelivery


@strawberry.type
class AuditTrailDeliveryConnection:
    edges: list[AuditTrailDeliveryEdge]
    page_info: PageInfo


@strawberry.type(description="The account's webhook.  Never shows the secret or custom header values.")
class AuditTrailWebhook:
    webhook_id: strawberry.Private[str]
    enabled: bool
    endpoint: str
    include_runs: bool
    retry_on_failure: bool
    secret: str = strawberry.field(
        description="Always empty: the secret is never shown (Spacelift's clients select it). See secretSHA."
    )
    secret_sha: str = strawberry.field(
        name="secretSHA", description="SHA-256 hex of the secret; empty when the webhook is unsigned."
    )
    signed: bool = strawberry.field(
        description="Whether deliveries are signed; a webhook saved without a secret sends no signature headers."
    )
    custom_header_names: list[str]
    created_at: int = strawberry.field(description="Unix seconds.")
    updated_at: int = strawberry.field(description="Unix seconds.")
    last_delivery_at: int | None = strawberry.field(description="Unix seconds of the last attempt, successful or not.")
    last_success_at: int | None = strawberry.field(description="Unix seconds of the last 2xx answer.")
    consecutive_failures: int = strawberry.field(description="Failed attempts since the last success.")
    failing_since: int | None = strawberry.field(
        description="Unix seconds when the current run of failures began; null while healthy."
    )
    auto_disabled_at: int | None = strawberry.field(
        description="Unix seconds when the service disabled it for failing too long; null once enabled again."
    )
    deleted_at: int | None = strawberry.field(
        description="Unix seconds when it was deleted (auditTrailDeletedWebhook); null for the live webhook."
    )

    @classmethod
    def from_row(cls, row: Webhook) -> AuditTrailWebhook:
        return cls(
            webhook_id=row.id,
            enabled=row.enabled,
            endpoint=row.endpoint,
            include_runs=row.include_runs,
            retry_on_failure=row.retry_on_failure,
            secret="",
            secret_sha=row.secret_sha or "",
            signed=row.secret_encrypted is not None,
            custom_header_names=list(row.custom_header_names),
            created_at=unix_seconds(row.created_at) or 0,
            updated_at=unix_seconds(row.updated_at) or 0,
            last_delivery_at=unix_seconds(row.last_delivery_at),
            last_success_at=unix_seconds(row.last_success_at),
            consecutive_failures=row.consecutive_failures,
            failing_since=unix_seconds(row.failing_since),
            auto_disabled_at=unix_seconds(row.auto_disabled_at),
            deleted_at=unix_seconds(row.deleted_at),
        )

    @strawberry.field(
        description="Attempts a delivery gets in all under this configuration (1 without retryOnFailure)."
    )
    def max_attempts(self, info: AppInfo) -> int:
        return info.context.services.retry_policy.max_attempts(retry_on_failure=self.retry_on_failure)

    @strawberry.field(description="The delivery log, newest first.")
    async def deliveries(
        self,
        info: AppInfo,
        first: int | None = None,
        after: str | None = None,
        status: AuditTrailDeliveryStatus | None = None,  # type: ignore[valid-type]  # strawberry enum wrapper
    ) -> AuditTrailDeliveryConnection:
        settings = info.context.services.settings
        page_size = check_page_size(first, default=settings.default_page_size, maximum=settings.max_page_size)
        async with info.context.reading() as session:
            page = await list_deliveries(
                session,
                self.webhook_id,
                first=page_size,
                after=after,
                status=DeliveryStatus(status) if status is not None else None,
            )
        edges = [
            AuditTrailDeliveryEdge(cursor=delivery_cursor(row), node=AuditTrailDelivery.from_row(row))
            for row in page.deliveries
        ]
        return AuditTrailDeliveryConnection(
            edges=edges,
            page_info=PageInfo(
                end_cursor=edges[-1].cursor if edges else None,
                has_next_page=page.has_next_page,
                has_previous_page=after is not None,
            ),
        )
