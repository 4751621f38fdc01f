"""The delivery log: one delivery and its attempts, or a webhook's deliveries newest first, keyset-paged."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from api.errors import NotFound
from api.models import DeliveryStatus, WebhookDelivery, WebhookDeliveryAttempt, could_be_id, shown_id
from api.paging import Cursor, Direction, decode_cursor, encode_cursor, planned_limit


async def get_delivery(session: AsyncSession, account_id: str, delivery_id: str) -> WebhookDelivery:
    """The delivery, read afresh; NOT_FOUND unless it belongs to ``account_id``."""
    delivery = (
        await session.get(WebhookDelivery, delivery_id, populate_existing=True) if could_be_id(delivery_id) else None
    )
    if delivery is None or delivery.account_id != account_id:
        raise NotFound(f"delivery {shown_id(delivery_id)} does not exist in this account")
    return delivery


@dataclass(frozen=True)
class DeliveryPage:
    deliveries: list[WebhookDelivery]
    has_next_page: bool


def delivery_cursor(delivery: WebhookDelivery) -> str:
    """The log's keyset position of ``delivery`` (newest first)."""
    return encode_cursor(Cursor(delivery.created_at, delivery.id, Direction.DESC))


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
        position = decode_cursor(after, Direction.DESC)
        query = query.where(
            text("(webhook_deliveries.created_at, webhook_deliveries.id) < (:after_created_at, :after_id)").bindparams(
                after_created_at=position.created_at, after_id=position.row_id
            )
        )
    query = query.order_by(col(WebhookDelivery.created_at).desc(), col(WebhookDelivery.id).desc()).limit(
        planned_limit(first + 1)
    )
    rows = list((await session.execute(query)).scalars())
    return DeliveryPage(deliveries=rows[:first], has_next_page=len(rows) > first)


async def list_attempts(session: AsyncSession, delivery_id: str) -> list[WebhookDeliveryAttempt]:
    """Every recorded attempt of a delivery, first to last (the caller has checked the delivery's account)."""
    query = (
        select(WebhookDeliveryAttempt)
        .where(col(WebhookDeliveryAttempt.delivery_id) == delivery_id)
        .order_by(col(WebhookDeliveryAttempt.attempt))
    )
    return list((await session.execute(query)).scalars())
