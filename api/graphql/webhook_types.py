"""GraphQL types and inputs of the webhook and its delivery log."""

from __future__ import annotations

from dataclasses import dataclass

import strawberry

from api.errors import BadInput
from api.graphql.context import AppInfo
from api.graphql.scalars import unix_seconds
from api.models import DeliveryStatus, Webhook, WebhookDelivery
from api.webhooks.delivery_log import delivery_cursor, list_deliveries

AuditTrailDeliveryStatus = strawberry.enum(DeliveryStatus, name="AuditTrailDeliveryStatus")


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


@dataclass
class DeliveryRef:
    """A delivery row, possibly filled in only when the mutation's before-commit step has sent it."""

    row: WebhookDelivery | None = None

    @property
    def delivery(self) -> WebhookDelivery:
        if self.row is None:
            raise RuntimeError("the delivery was not sent")
        return self.row


@strawberry.type(description="One event owed to the webhook, and how its sending went.")
class AuditTrailDelivery:
    ref: strawberry.Private[DeliveryRef]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(self.ref.delivery.id)

    @strawberry.field
    def event_id(self) -> strawberry.ID:
        return strawberry.ID(self.ref.delivery.event_id)

    @strawberry.field
    def action(self) -> str:
        return self.ref.delivery.action

    @strawberry.field
    def status(self) -> AuditTrailDeliveryStatus:  # type: ignore[valid-type]  # strawberry enum wrapper
        return DeliveryStatus(self.ref.delivery.status)

    @strawberry.field(description="Attempts made so far, the first one included.")
    def attempts(self) -> int:
        return self.ref.delivery.attempts

    @strawberry.field
    def last_status_code(self) -> int | None:
        return self.ref.delivery.last_status_code

    @strawberry.field
    def last_error(self) -> str | None:
        return self.ref.delivery.last_error

    @strawberry.field
    def last_latency_ms(self) -> int | None:
        return self.ref.delivery.last_latency_ms

    @strawberry.field(description="The first KiB of the endpoint's last response.")
    def response_snippet(self) -> str | None:
        return self.ref.delivery.response_snippet

    @strawberry.field(description="Unix seconds of the next attempt; null once delivered or failed.")
    def next_attempt_at(self) -> int | None:
        delivery = self.ref.delivery
        return unix_seconds(delivery.next_attempt_at) if delivery.status == DeliveryStatus.PENDING else None

    @strawberry.field(description="Unix seconds.")
    def created_at(self) -> int:
        return unix_seconds(self.ref.delivery.created_at) or 0

    @strawberry.field(description="Unix seconds.")
    def delivered_at(self) -> int | None:
        return unix_seconds(self.ref.delivery.delivered_at)

    @classmethod
    def from_row(cls, row: WebhookDelivery) -> AuditTrailDelivery:
        return cls(ref=DeliveryRef(row))


@strawberry.type
class AuditTrailDeliveryEdge:
    cursor: str
    node: AuditTrailDelivery


@strawberry.type
class AuditTrailDeliveryPageInfo:
    end_cursor: str | None
    has_next_page: bool
    has_previous_page: bool


@strawberry.type
class AuditTrailDeliveryConnection:
    edges: list[AuditTrailDeliveryEdge]
    page_info: AuditTrailDeliveryPageInfo


@strawberry.type(description="The account's webhook.  Never shows the secret or custom header values.")
class AuditTrailWebhook:
    row: strawberry.Private[Webhook]

    @strawberry.field
    def enabled(self) -> bool:
        return self.row.enabled

    @strawberry.field
    def endpoint(self) -> str:
        return self.row.endpoint

    @strawberry.field
    def include_runs(self) -> bool:
        return self.row.include_runs

    @strawberry.field
    def retry_on_failure(self) -> bool:
        return self.row.retry_on_failure

    @strawberry.field(name="secretSHA", description="SHA-256 hex of the secret.")
    def secret_sha(self) -> str:
        return self.row.secret_sha

    @strawberry.field
    def custom_header_names(self) -> list[str]:
        return list(self.row.custom_header_names)

    @strawberry.field(description="Unix seconds.")
    def created_at(self) -> int:
        return unix_seconds(self.row.created_at) or 0

    @strawberry.field(description="Unix seconds.")
    def updated_at(self) -> int:
        return unix_seconds(self.row.updated_at) or 0

    @strawberry.field(description="Unix seconds of the last attempt, successful or not.")
    def last_delivery_at(self) -> int | None:
        return unix_seconds(self.row.last_delivery_at)

    @strawberry.field(description="Unix seconds of the last 2xx answer.")
    def last_success_at(self) -> int | None:
        return unix_seconds(self.row.last_success_at)

    @strawberry.field(description="Failed attempts since the last success.")
    def consecutive_failures(self) -> int:
        return self.row.consecutive_failures

    @strawberry.field(description="The delivery log, newest first.")
    async def deliveries(
        self,
        info: AppInfo,
        first: int | None = None,
        after: str | None = None,
        status: AuditTrailDeliveryStatus | None = None,  # type: ignore[valid-type]  # strawberry enum wrapper
    ) -> AuditTrailDeliveryConnection:
        settings = info.context.services.settings
        page_size = settings.default_page_size if first is None else first
        if not 1 <= page_size <= settings.max_page_size:
            raise BadInput(f"first must be between 1 and {settings.max_page_size}, got {page_size}")
        async with info.context.services.db.transaction() as session:
            page = await list_deliveries(
                session,
                self.row.id,
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
            page_info=AuditTrailDeliveryPageInfo(
                end_cursor=edges[-1].cursor if edges else None,
                has_next_page=page.has_next_page,
                has_previous_page=after is not None,
            ),
        )
