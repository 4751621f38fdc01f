"""Saved filters: the Logs tab's named views, stored per account (Spacelift's ``savedFilter*``).

A saved filter is a name and the client's JSON text (the console keeps its predicates and time
range in it).  The text is checked to be a JSON object of bounded size and then kept byte for byte:
Spacelift's Terraform provider compares what it reads back with what it wrote.  A private filter
is seen only by the key that saved it; a public one by every key of the account that reads the
trail.  A filter is changed by the key that saved it, or, when public, by an ADMIN.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from api.audit.facts import Audited, AuditFacts
from api.audit.record import Resource
from api.audit.resources import ResourceType
from api.errors import BadInput, Conflict, Forbidden, NotFound
from api.models import SavedFilter, could_be_id, shown_id

SAVED_FILTER_TYPES = ("auditTrailEntries",)
"""The views this service has: Spacelift's type for its audit trail page."""
MAX_NAME_LENGTH = 100
MAX_DATA_BYTES = 16 * 1024
MAX_FILTERS_PER_ACCOUNT = 500
"""Enough for any team; bounds what one key can make every other key of the account list."""


@dataclass(frozen=True)
class Owner:
    """The key asking, as far as saved filters care."""

    key_id: str
    is_admin: bool


@dataclass(frozen=True)
class SavedFilterDraft:
    name: str
    data: str
    type: str
    is_public: bool


@dataclass(frozen=True)
class SavedFilterChange:
    """What ``savedFilterUpdate`` changes; None keeps the stored value."""

    name: str | None = None
    data: str | None = None
    is_public: bool | None = None


def check_name(name: str) -> str:
    """The name without surrounding spaces: 1-100 characters, none of them a control character."""
    trimmed = name.strip()
    if not 1 <= len(trimmed) <= MAX_NAME_LENGTH:
        raise BadInput(f"name must be 1-{MAX_NAME_LENGTH} characters (spaces around it aside), got {len(trimmed)}")
    for position, character in enumerate(trimmed):
        if unicodedata.category(character) in ("Cc", "Cs"):
            raise BadInput(f"name may not contain control characters; U+{ord(character):04X} at position {position}")
    return trimmed


def check_data(data: str) -> str:
    """``data`` unchanged if it is the JSON text of an object of at most 16 KiB."""
    try:
        size = len(data.encode("utf-8"))
    except UnicodeEncodeError:
        raise BadInput("data must be UTF-8 text (it holds a lone surrogate)") from None
    if size > MAX_DATA_BYTES:
        raise BadInput(f"data must be at most {MAX_DATA_BYTES} bytes of JSON, got {size}")
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise BadInput(f"data must be JSON text: {error.msg} at character {error.pos}") from None
    if not isinstance(parsed, dict):
        raise BadInput(f"data must be a JSON object, got a JSON {type(parsed).__name__}")
    return data


def check_type(filter_type: str) -> str:
    """``filter_type`` if this service has that view (Spacelift's clients may name others)."""
    if filter_type not in SAVED_FILTER_TYPES:
        allowed = ", ".join(SAVED_FILTER_TYPES)
        shown = repr(filter_type) if len(filter_type) <= 64 else f"of {len(filter_type)} characters"
        raise BadInput(f"type must be one of {allowed} (the views this service has), got {shown}")
    return filter_type


def _visible_to(account_id: str, key_id: str) -> ColumnElement[bool]:
    return and_(
        col(SavedFilter.account_id) == account_id,
        or_(col(SavedFilter.is_public), col(SavedFilter.created_by) == key_id),
    )


async def list_saved_filters(
    session: AsyncSession, account_id: str, key_id: str, *, filter_type: str | None = None
) -> list[SavedFilter]:
    """The filters ``key_id`` sees (the account's public ones and its own), by type and name."""
    statement = select(SavedFilter).where(_visible_to(account_id, key_id))
    if filter_type is not None:
        statement = statement.where(col(SavedFilter.type) == filter_type)
    ordered = statement.order_by(col(SavedFilter.type), col(SavedFilter.name), col(SavedFilter.id))
    return list((await session.scalars(ordered)).all())


async def find_saved_filter(
    session: AsyncSession, account_id: str, key_id: str, filter_id: str, *, for_update: bool = False
) -> SavedFilter | None:
    """The filter ``filter_id`` if ``key_id`` sees it; None for another key's private one or another account's."""
    if not could_be_id(filter_id):
        return None
    statement = select(SavedFilter).where(col(SavedFilter.id) == filter_id, _visible_to(account_id, key_id))
    if for_update:
        statement = statement.with_for_update()
    found: SavedFilter | None = await session.scalar(statement)
    return found


async def _changeable(session: AsyncSession, account_id: str, owner: Owner, filter_id: str) -> SavedFilter:
    found = await find_saved_filter(session, account_id, owner.key_id, filter_id, for_update=True)
    if found is None:
        raise NotFound(f"no saved filter {shown_id(filter_id)} that this key can see")
    if found.created_by != owner.key_id and not owner.is_admin:
        raise Forbidden("a public saved filter is changed only by the key that saved it or by an ADMIN key")
    return found


def _facts(saved: SavedFilter) -> AuditFacts:
    return AuditFacts(affected_resource=Resource(ResourceType.SAVED_FILTER, saved.id))


async def _flush_unique(session: AsyncSession, saved: SavedFilter) -> None:
    """Flush, turning the unique name into CONFLICT (a twin saved concurrently commits first)."""
    try:
        await session.flush()
    except IntegrityError:
        raise _name_conflict(saved.type, saved.name) from None


def _name_conflict(filter_type: str, name: str) -> Conflict:
    return Conflict(
        f"a saved filter of type {filter_type} named {name!r} already exists in this account; choose another name"
    )


async def _name_taken(session: AsyncSession, account_id: str, filter_type: str, name: str) -> bool:
    taken = await session.scalar(
        select(col(SavedFilter.id)).where(
            col(SavedFilter.account_id) == account_id,
            col(SavedFilter.type) == filter_type,
            col(SavedFilter.name) == name,
        )
    )
    return taken is not None


async def create_saved_filter(
    session: AsyncSession, account_id: str, owner: Owner, *, draft: SavedFilterDraft
) -> Audited[SavedFilter]:
    """Save a filter for ``owner``; its name is unique in the account for its type."""
    saved = SavedFilter(
        account_id=account_id,
        type=check_type(draft.type),
        name=check_name(draft.name),
        data=check_data(draft.data),
        is_public=draft.is_public,
        created_by=owner.key_id,
    )
    count = await session.scalar(
        select(func.count()).select_from(SavedFilter).where(col(SavedFilter.account_id) == account_id)
    )
    if int(count or 0) >= MAX_FILTERS_PER_ACCOUNT:
        raise BadInput(f"the account has {MAX_FILTERS_PER_ACCOUNT} saved filters, the most it may; delete some first")
    if await _name_taken(session, account_id, saved.type, saved.name):
        raise _name_conflict(saved.type, saved.name)
    session.add(saved)
    await _flush_unique(session, saved)
    return Audited(saved, _facts(saved))


async def update_saved_filter(
    session: AsyncSession, account_id: str, owner: Owner, *, filter_id: str, change: SavedFilterChange
) -> Audited[SavedFilter]:
    """Rename a filter, replace its data or make it public or private."""
    if change.name is None and change.data is None and change.is_public is None:
        raise BadInput("give at least one of name, data and isPublic to change")
    name = check_name(change.name) if change.name is not None else None
    data = check_data(change.data) if change.data is not None else None
    saved = await _changeable(session, account_id, owner, filter_id)
    if name is not None and name != saved.name:
        if await _name_taken(session, account_id, saved.type, name):
            raise _name_conflict(saved.type, name)
        saved.name = name
    if data is not None:
        saved.data = data
    if change.is_public is not None:
        saved.is_public = change.is_public
    saved.updated_at = datetime.now(UTC)
    await _flush_unique(session, saved)
    return Audited(saved, _facts(saved))


async def delete_saved_filter(
    session: AsyncSession, account_id: str, owner: Owner, *, filter_id: str
) -> Audited[SavedFilter]:
    """Delete a filter; the answer is the filter as it was."""
    saved = await _changeable(session, account_id, owner, filter_id)
    await session.delete(saved)
    await session.flush()
    return Audited(saved, _facts(saved))
