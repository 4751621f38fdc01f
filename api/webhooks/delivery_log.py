"""The delivery log: one delivery, or a webhook's deliveries newest first, keyset-paged."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from api.errors import BadInput, NotFound
from api.models import DeliveryStatus, WebhookDelivery


async def get_delivery(session: AsyncSession, account_id: str, delivery_id: str) -> WebhookDelivery:
    """The delivery, read afresh; NOT_FOUND unless it belongs to ``account_id``."""
    delivery = (
        await session.get(WebhookDelivery, delivery_id, populate_existing=True) if len(delivery_id) <= 26 else None
    )
    if delivery is None or delivery.account_id != account_id:
        raise NotFound(f"delivery {delivery_id!r} does not exist in this account")
    return delivery


@dataclass(frozen=True)
class DeliveryPage:
    deliveries: list[WebhookDelivery]
    has_next_page: bool


def delivery_cursor(delivery: WebhookDelivery) -> str:
    """Opaque keyset cursor: the (created_at, id) position in the log."""
    return base64.urlsafe_b64encode(f"{delivery.created_at.isoformat()}|{delivery.id}".encode()).decode()


def _parse_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        created_at, delivery_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
        return datetime.fromisoformat(created_at), delivery_id
    except ValueError:
        raise BadInput(f"after must be a cursor returned by this connection, got {cursor[:40]!r}") from None


async def list_deliveries(
    session: AsyncSession,
    webhook_id: str,
    *,
    first: int,
    after: str | None = None,
    status: DeliveryStatus | None = None,
) -> DeliveryPage:
    """The webhook's delivery log, newest first, keyset-paged (index ``webhook_deliveries_log``)."""
    query = select(WebhookDelivery).where(col(WebhookDelivery.webhook_id) == webhook_id)
    if status is not None:
        query = query.where(col(WebhookDelivery.status) == status.value)
    if after:
        created_at, delivery_id = _parse_cursor(after)
        query = query.where(
            text("(webhook_deliveries.created_at, webhook_deliveries.id) < (:after_created_at, :after_id)").bindparams(
                after_created_at=created_at, after_id=delivery_id
            )
        )
    query = query.order_by(col(WebhookDelivery.created_at).desc(), col(WebhookDelivery.id).desc()).limit(first + 1)
    rows = list((await session.execute(query)).scalars())
    return DeliveryPage(deliveries=rows[:first], has_next_page=len(rows) > first)
