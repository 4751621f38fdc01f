"""Client ids of ingested events (``externalId``): their form, and the events already stored under them.

An id is unique per account (``audit_event_external_ids``); ``record_events`` claims the ids of a
batch in the statement that writes it, and a batch naming an id claimed before gets the event
stored then, never a second one.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from api.errors import BadInput
from api.models import AuditEvent, AuditEventExternalId

EXTERNAL_ID = "externalId"
"""The ``context`` key that carries an ingested event's external id in its body."""
MAX_EXTERNAL_ID_LENGTH = 128
EXTERNAL_ID_PATTERN = re.compile(rf"[A-Za-z0-9._:@/+=-]{{1,{MAX_EXTERNAL_ID_LENGTH}}}")
ALLOWED = "letters, digits and . _ : @ / + = -"


def check_external_id(external_id: str | None, where: str) -> str | None:
    """``external_id`` as given (ids are compared exactly), or BAD_USER_INPUT saying what an id may hold."""
    if external_id is None:
        return None
    if not EXTERNAL_ID_PATTERN.fullmatch(external_id):  # fullmatch: no trailing newline slips past
        shown = repr(external_id) if len(external_id) <= MAX_EXTERNAL_ID_LENGTH else f"{len(external_id)} characters"
        raise BadInput(
            f"{where}.externalId must be 1 to {MAX_EXTERNAL_ID_LENGTH} characters of {ALLOWED}"
            f" (a UUID, a ULID or your own key), got {shown}"
        )
    return external_id


def check_distinct(external_ids: Sequence[str | None]) -> None:
    """BAD_USER_INPUT when one batch names an id twice: which of the two events would it mean?"""
    first_index: dict[str, int] = {}
    for index, external_id in enumerate(external_ids):
        if external_id is None:
            continue
        if external_id in first_index:
            earlier = first_index[external_id]
            raise BadInput(
                f"events[{index}].externalId {external_id!r} is also the externalId of events[{earlier}];"
                " each event of a batch needs its own"
            )
        first_index[external_id] = index


async def stored_events(session: AsyncSession, account_id: str, external_ids: Collection[str]) -> dict[str, AuditEvent]:
    """The account's events stored under ``external_ids``, by external id (the primary key finds each)."""
    if not external_ids:
        return {}
    claim = AuditEventExternalId
    statement = (
        select(col(claim.external_id), AuditEvent)
        .join(
            AuditEvent,
            and_(
                col(AuditEvent.account_id) == col(claim.account_id),
                col(AuditEvent.id) == col(claim.event_id),
                # The event's time names its one partition.
                col(AuditEvent.created_at) == col(claim.event_created_at),
            ),
        )
        .where(col(claim.account_id) == account_id, col(claim.external_id).in_(list(external_ids)))
    )
    rows = (await session.execute(statement)).all()
    return {str(row[0]): row[1] for row in rows}
