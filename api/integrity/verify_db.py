"""``audittrail verify`` and ``auditTrailVerify``: the database checked against its own signed digests.

Everything is read in one REPEATABLE READ, read-only transaction, so the events and digests
compared are one snapshot even while the service records more.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncSession

from api.audit.hashing import Leaves, pack_leaves
from api.db import Database
from api.integrity.checks import check_chain, compare_leaves
from api.integrity.columns import id_milliseconds
from api.integrity.event_checks import check_events_recorded_in
from api.integrity.keys import PublicKey
from api.integrity.problems import ProblemKind, VerifyReport
from api.integrity.statement import DigestStatement, SignedDigest
from api.integrity.time_range import TimeRange

FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)
FAR_PAST = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class AccountToVerify:
    account_id: str
    account_name: str
    retention_days: int


_DIGESTS_IN_RANGE = text(
    """
    SELECT id, sequence, interval_start, interval_end, event_count, merkle_root, previous_digest_hash,
           key_id, signature, leaves FROM audit_digests
    WHERE account_id = :account_id AND interval_end > :start AND interval_start < :end
    ORDER BY sequence
    """
)

_DIGEST_BEFORE = text(
    """
    SELECT id, sequence, interval_start, interval_end, event_count, merkle_root, previous_digest_hash,
           key_id, signature, leaves FROM audit_digests
    WHERE account_id = :account_id AND interval_end <= :start
    ORDER BY sequence DESC LIMIT 1
    """
)

_EVENTS_BY_ID = text("SELECT id FROM audit_events WHERE account_id = :account_id AND id = ANY(:ids)")


async def accounts_to_verify(db: Database, account_name: str | None = None) -> list[AccountToVerify]:
    """Every account, or the one named; an unknown name gives an empty list."""
    async with db.transaction() as session:
        rows = await session.execute(
            text("SELECT id, name, retention_days FROM accounts WHERE :name = '' OR name = :name ORDER BY name"),
            {"name": account_name or ""},
        )
        return [AccountToVerify(str(r.id), str(r.name), int(r.retention_days)) for r in rows]


async def verify_database(
    db: Database,
    accounts: list[AccountToVerify],
    keys: Mapping[str, PublicKey],
    time_range: TimeRange | None = None,
    *,
    now: datetime | None = None,
) -> VerifyReport:
    """Verify ``accounts`` over ``time_range`` of recording time; every problem lands in the report."""
    report = VerifyReport()
    time_range = time_range or TimeRange()
    async with db.transaction() as session:
        await session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
        for account in accounts:
            await verify_account(session, report, account, keys, time_range, now=now or datetime.now(UTC))
    return report


async def verify_account(
    session: AsyncSession,
    report: VerifyReport,
    account: AccountToVerify,
    keys: Mapping[str, PublicKey],
    time_range: TimeRange,
    *,
    now: datetime,
) -> None:
    """One account's chain, each digest's events, and the events recorded outside every digest."""
    start, end = time_range.start or FAR_PAST, time_range.end or FAR_FUTURE
    params = {"account_id": account.account_id, "start": start, "end": end}
    digests = [_signed_digest(row, account) for row in await session.execute(_DIGESTS_IN_RANGE, params)]
    preceding_row = (await session.execute(_DIGEST_BEFORE, params)).one_or_none() if time_range.start else None
    preceding = _signed_digest(preceding_row, account) if preceding_row else None
    if digests and preceding is None and digests[0].statement.sequence != 1 and time_range.start is None:
        report.add(
            ProblemKind.DIGEST_MISSING,
            f"{account.account_name}#1",
            account.account_name,
            "the chain's first digests are gone",
        )
    # Threads, here and for _lists_exactly: a million-event digest is seconds of hashing and sorting
    # that the event loop (in the API, every other request) need not wait out.
    chain = await asyncio.to_thread(check_chain, report, digests, keys, preceding=preceding)
    trusted = {digest.digest_id for digest in chain}
    expired_before_ms = (now - timedelta(days=account.retention_days)).timestamp() * 1000
    for digest in digests:
        found = await _check_events(
            session, report, account, digest.statement.interval_start, digest.statement.interval_end
        )
        if digest.digest_id not in trusted or await asyncio.to_thread(_lists_exactly, digest, found):
            continue
        listed_ids = [event_id for event_id, _ in digest.leaves if event_id not in found]
        elsewhere = await _existing_ids(session, account.account_id, listed_ids)
        for event_id in compare_leaves(report, digest, found, elsewhere=dict.fromkeys(elsewhere, b"")):
            if (listed_ms := id_milliseconds(event_id[:10])) is not None and listed_ms < expired_before_ms:
                report.expired_event_ids.append(event_id)
            else:
                report.add(ProblemKind.MISSING, event_id, account.account_name, f"listed by digest {digest.digest_id}")
    if not digests:
        report.pending_events += len(await _check_events(session, report, account, start, end))
        return
    first_start, last_end = digests[0].statement.interval_start, digests[-1].statement.interval_end
    if time_range.start is None:
        for event_id in await _check_events(session, report, account, FAR_PAST, first_start):
            report.add(ProblemKind.UNEXPECTED, event_id, account.account_name, "recorded before the first digest")
    if last_end < end:
        report.pending_events += len(await _check_events(session, report, account, last_end, end))


async def _check_events(
    session: AsyncSession, report: VerifyReport, account: AccountToVerify, start: datetime, end: datetime
) -> dict[str, bytes]:
    return await check_events_recorded_in(session, report, account.account_id, account.account_name, start, end)


async def _existing_ids(session: AsyncSession, account_id: str, event_ids: list[str]) -> list[str]:
    if not event_ids:
        return []
    rows = await session.execute(_EVENTS_BY_ID, {"account_id": account_id, "ids": event_ids})
    return [str(event_id) for event_id in rows.scalars()]


def _lists_exactly(digest: SignedDigest, found: dict[str, bytes]) -> bool:
    """Whether the events found are the digest's leaves, hashes and all: one comparison of packed
    bytes settles the common case, with no per-leaf Python objects for the listed side."""
    if len(found) != len(digest.leaves):
        return False
    try:
        return pack_leaves(found.items()) == digest.leaves.packed
    except UnicodeEncodeError:  # an id that is not ASCII: not a leaf, the comparison below names it
        return False


def _signed_digest(row: Row[Any], account: AccountToVerify) -> SignedDigest:
    """A stored digest as the shared checks take it.  Leaves that are not whole are kept empty: the
    root then disagrees and the digest is reported, rather than verification failing."""
    try:
        leaves = Leaves.from_stored(bytes(row.leaves))
    except ValueError:
        leaves = Leaves()
    previous = row.previous_digest_hash
    statement = DigestStatement(
        account_id=account.account_id,
        account=account.account_name,
        sequence=int(row.sequence),
        interval_start=row.interval_start,
        interval_end=row.interval_end,
        event_count=int(row.event_count),
        merkle_root=bytes(row.merkle_root),
        previous_digest_hash=bytes(previous) if previous is not None else None,
        key_id=str(row.key_id),
    )
    return SignedDigest(
        digest_id=str(row.id),
        statement=statement,
        signature=bytes(row.signature),
        leaves=leaves,
    )
