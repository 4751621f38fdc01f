"""Writing digests: per account, one signed digest for every closed interval of recording time.

An interval ``[start, end)`` closes ``grace`` seconds after its end: ``recorded_at`` is the
recording transaction's start, so a transaction open across ``end`` commits events into the
interval late, and the grace outlasts it (``Settings.digest_grace``).  Each digest is written in a
transaction of its own under an advisory lock on the account, after re-reading the last digest,
so two workers (or a rerun) never write the same interval twice.

Inside that transaction the row is written in two statements so that the two cores work at once:
the INSERT of the leaves (tens of MB for a busy interval, which PostgreSQL cuts into TOAST chunks)
goes out before the Merkle root is known, and is stored while the root is computed here; an
UPDATE then sets the root, signature and digest hash.  Nobody sees the row in between: it commits
with the UPDATE or not at all.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import asyncpg
from arq.connections import ArqRedis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from api.audit.hashing import PACKED_LEAF_SIZE
from api.audit.record import EventDraft, Resource, now_ms, record_events
from api.audit.resources import ResourceType
from api.db import SERIAL_PLAN, Database, driver_connection
from api.integrity.keys import SigningKey
from api.integrity.leaf_level import CopiedLeaves, LeafLevel
from api.integrity.statement import DIGEST_ACTION, DIGEST_ACTOR, LEAVES_PER_EVENT, DigestStatement, SignedDigest
from api.integrity.tree_steps import merkle_root_in_steps
from api.models import EventType, new_id
from api.webhooks.unit_of_work import unit_of_work

MAX_DIGESTS_PER_RUN = 2000
"""Per account and run: an account catching up on a long outage goes on at the next run."""
LEAVES_TIMEOUT_SECONDS = 300.0
"""Reading a busy interval's leaves is one statement over up to millions of rows, and writing them one
statement of tens of MB (sent while the tree is computed): longer than the statement timeout every
other statement gets, which would fail the same interval on every run."""

RECORDING_TIME = "coalesce(recorded_at, created_at)"
"""An event's recording time.  Rows from before migration 0005 have no ``recorded_at``; theirs is
the time they claim, which for the service's own events is when they were written."""

# The interval's leaves, ``id || event hash`` per event, one bytea row each, streamed by ``COPY`` in
# binary (``api.integrity.leaf_level``).
# - Rows from before migration 0007 have no stored hash: theirs is computed here from the body,
#   exactly as ``event_hash`` does (and a stored "hash" that is not 32 bytes long is recomputed
#   too, so every leaf keeps its 58 bytes; verification then reports the stored column).
# - An id that is not 26 single-byte characters cannot be a leaf (the packing has fixed widths):
#   such a row is left out, so verification reports it as UNEXPECTED.
# - Two branches rather than one ``coalesce`` predicate on recording time: each is served by an
#   index ((account_id, recorded_at) and (account_id, created_at)), a coalesce by neither.
_LEAVES_RECORDED_IN = """
    SELECT convert_to(id, 'UTF8') || coalesce(
        CASE WHEN octet_length(event_hash) = 32 THEN event_hash END, sha256(convert_to(id || body, 'UTF8'))
    )
    FROM (
        SELECT id, event_hash, body FROM audit_events
        WHERE account_id = $1 AND recorded_at >= $2 AND recorded_at < $3
        UNION ALL
        SELECT id, event_hash, body FROM audit_events
        WHERE account_id = $1 AND recorded_at IS NULL AND created_at >= $2 AND created_at < $3
    ) AS recorded
    WHERE octet_length(id) = 26 AND length(id) = 26
"""

_LEAVES_LISTED = f"SELECT string_agg(leaf, ''::bytea) FROM ({_LEAVES_RECORDED_IN} LIMIT $4) AS listed(leaf)"  # noqa: S608  # constants
"""The same leaves joined into one value, up to a number: ``leaves_recorded_in``'s small intervals.
Joined, not as rows: like the ``COPY``'s stream, cut at a fixed stride with no Python object per row
(asyncpg would make a record and a value for each)."""
LISTED_AT_MOST = 20_000
"""Leaves read joined at most; a busier interval is streamed by ``COPY``, hashed while PostgreSQL reads on."""
GENERIC_PLAN = "SET LOCAL plan_cache_mode = force_generic_plan"
"""The listed leaves' statement planned once per connection: the partitions its ``created_at`` branch
cannot hold are pruned when it starts, and its ``recorded_at`` branch reads every partition whatever
the values.  PostgreSQL's own choice kept planning it for its values, as the ``COPY``'s query is.  Set
for the rest of the digest's transaction, whose other statements write or read single rows by key."""

_FIRST_RECORDING_TIME = text(
    """
    SELECT least(
        (SELECT min(recorded_at) FROM audit_events WHERE account_id = :account_id),
        (SELECT min(created_at) FROM audit_events WHERE account_id = :account_id AND recorded_at IS NULL)
    )
    """
)

_LAST_DIGEST = text(
    """
    SELECT sequence, interval_end, digest_hash FROM audit_digests
    WHERE account_id = :account_id ORDER BY sequence DESC LIMIT 1
    """
)

# The row's signed values are filled in by _SEAL_DIGEST, in the same transaction (see the module's docstring).
_INSERT_DIGEST_LEAVES = """
    INSERT INTO audit_digests (id, account_id, sequence, interval_start, interval_end, event_count, merkle_root,
                               previous_digest_hash, key_id, signature, digest_hash, leaves)
    VALUES ($1, $2, $3, $4, $5, $6, ''::bytea, $7, $8, ''::bytea, ''::bytea, $9)
"""

_SEAL_DIGEST = text(
    """
    UPDATE audit_digests SET merkle_root = :merkle_root, signature = :signature, digest_hash = :digest_hash
    WHERE id = :id
    """
)


@dataclass(frozen=True, kw_only=True)
class DigestSchedule:
    """When intervals close: their length and the grace after their end."""

    interval_seconds: int
    grace_seconds: float

    def interval_containing(self, moment: datetime) -> datetime:
        """The start of the interval holding ``moment``; intervals are aligned to the Unix epoch."""
        seconds = int(moment.timestamp()) // self.interval_seconds * self.interval_seconds
        return datetime.fromtimestamp(seconds, UTC)

    def is_closed(self, interval_end: datetime, now: datetime) -> bool:
        return interval_end + timedelta(seconds=self.grace_seconds) <= now


@dataclass(frozen=True)
class AccountToDigest:
    account_id: str
    account_name: str
    records_digest_events: bool


@dataclass
class DigestRun:
    written: list[SignedDigest] = field(default_factory=list)
    events_recorded: int = 0
    """How many of them also went out as ``audit_trail.digest`` events (accounts may turn those off)."""


async def accounts_to_digest(db: Database) -> list[AccountToDigest]:
    """Every account: each has its own chain, from the interval of its first recorded event on."""
    async with db.transaction() as session:
        rows = await session.execute(text("SELECT id, name, digest_events FROM accounts ORDER BY id"))
        return [AccountToDigest(str(r.id), str(r.name), bool(r.digest_events)) for r in rows]


async def write_due_digests(
    db: Database,
    queue: ArqRedis | None,
    signing_key: SigningKey,
    schedule: DigestSchedule,
    *,
    now: datetime | None = None,
    leaves_per_event: int = LEAVES_PER_EVENT,
) -> DigestRun:
    """Write every closed, undigested interval of every account (up to ``MAX_DIGESTS_PER_RUN`` each)."""
    moment = now or datetime.now(UTC)
    run = DigestRun()
    for account in await accounts_to_digest(db):
        for _ in range(MAX_DIGESTS_PER_RUN):
            async with unit_of_work(db, queue) as unit:
                digest = await write_next_digest(unit.session, account, signing_key, schedule, moment)
                if digest is None:
                    break
                if account.records_digest_events:
                    batch = await record_events(
                        unit.session,
                        digest_events(digest, leaves_per_event),
                        account_id=account.account_id,
                        account_name=account.account_name,
                        recorded_by=None,
                    )
                    unit.enqueue_after_commit(batch.delivery_ids)
            run.written.append(digest)
            run.events_recorded += int(account.records_digest_events)
    return run


def digest_events(digest: SignedDigest, leaves_per_event: int = LEAVES_PER_EVENT) -> list[EventDraft]:
    """The ``audit_trail.digest`` events that carry a digest to the webhook, and so to the receiver's
    copy: one per part of its leaves (``LEAVES_PER_EVENT``), recorded in the digest's transaction."""
    return [
        EventDraft(
            action=DIGEST_ACTION,
            actor=DIGEST_ACTOR,
            timestamp_ms=now_ms(),
            event_type=EventType.CREATE,
            data=part,
            affected_resource=Resource(ResourceType.AUDIT_TRAIL_DIGEST.value, digest.digest_id),
        )
        for part in digest.event_parts(leaves_per_event)
    ]


async def write_next_digest(
    session: AsyncSession,
    account: AccountToDigest,
    signing_key: SigningKey,
    schedule: DigestSchedule,
    now: datetime,
) -> SignedDigest | None:
    """Sign and store the account's next interval if it has closed; None when there is none due."""
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtext('digest:' || :account_id))"), {"account_id": account.account_id}
    )
    last = (await session.execute(_LAST_DIGEST, {"account_id": account.account_id})).one_or_none()
    if last is not None:
        start, sequence, previous_hash = last.interval_end, int(last.sequence) + 1, bytes(last.digest_hash)
    else:
        # The chain starts with the interval of the account's first event: before it there is nothing
        # to protect, and an event later inserted with an earlier time is reported as UNEXPECTED.
        first = (await session.execute(_FIRST_RECORDING_TIME, {"account_id": account.account_id})).scalar_one()
        if first is None:
            return None
        start, sequence, previous_hash = schedule.interval_containing(first), 1, None
    end = start + timedelta(seconds=schedule.interval_seconds)
    if not schedule.is_closed(end, now):
        return None
    statement_without_root = DigestStatement(
        account_id=account.account_id,
        account=account.account_name,
        sequence=sequence,
        interval_start=start,
        interval_end=end,
        event_count=0,
        merkle_root=b"",
        previous_digest_hash=previous_hash,
        key_id=signing_key.public.key_id,
    )
    return await sign_and_store(session, statement_without_root, signing_key)


async def sign_and_store(session: AsyncSession, unsigned: DigestStatement, signing_key: SigningKey) -> SignedDigest:
    """Read the interval's leaves, store them while their root is computed, then seal the row with the
    statement (``unsigned`` with its count and root filled in) and its signature."""
    account_id, start, end = unsigned.account_id, unsigned.interval_start, unsigned.interval_end
    raw = await driver_connection(session)
    level = await leaves_recorded_in(raw, account_id, start, end)
    leaves = level.leaves
    digest_id = new_id()
    stored = asyncio.create_task(
        raw.execute(
            _INSERT_DIGEST_LEAVES,
            digest_id,
            account_id,
            unsigned.sequence,
            start,
            end,
            len(leaves),
            unsigned.previous_digest_hash,
            unsigned.key_id,
            leaves.packed,
            timeout=LEAVES_TIMEOUT_SECONDS,
        )
    )
    try:
        root = await merkle_root_in_steps(level.hashes)
    finally:
        # Never leave the INSERT running on the session: on an error it is waited for, then the
        # transaction is rolled back by its owner.
        await asyncio.wait([stored])
    stored.result()
    statement = replace(unsigned, event_count=len(leaves), merkle_root=root)
    digest = SignedDigest(
        digest_id=digest_id, statement=statement, signature=signing_key.sign(statement.signed_bytes()), leaves=leaves
    )
    await session.execute(
        _SEAL_DIGEST,
        {"id": digest_id, "merkle_root": root, "signature": digest.signature, "digest_hash": digest.digest_hash},
    )
    return digest


async def leaves_recorded_in(
    connection: asyncpg.Connection,
    account_id: str,
    start: datetime,
    end: datetime,
    *,
    listed_at_most: int = LISTED_AT_MOST,
) -> LeafLevel:
    """(id, event hash) of every event recorded in ``[start, end)``, and their leaf hashes, in tree order.

    An interval of up to ``listed_at_most`` events is read by a prepared statement on its generic
    plan, its leaves joined into one value; a larger one is streamed again by ``COPY``.  A ``COPY``
    cannot be prepared, and planning its query cost PostgreSQL 4.6 ms on every run (recording time
    is not the partition key, so the ``recorded_at`` branch plans every daily partition), against
    0.2 ms for the prepared statement: every account pays it at every interval, most of them for a
    handful of events.
    """
    copied = CopiedLeaves()
    await connection.execute(f"{SERIAL_PLAN}; {GENERIC_PLAN}")
    listed: bytes = await connection.fetchval(_LEAVES_LISTED, account_id, start, end, listed_at_most + 1) or b""
    if len(listed) <= listed_at_most * PACKED_LEAF_SIZE:
        copied.take_joined(listed)
    else:
        await connection.copy_from_query(
            _LEAVES_RECORDED_IN,
            account_id,
            start,
            end,
            output=copied.take,
            format="binary",
            timeout=LEAVES_TIMEOUT_SECONDS,
        )
        copied.ended()
    if copied.in_order:
        return copied.as_read()
    # In a thread: sorting a million entries takes about a second, during which the worker's event loop
    # goes on delivering between the GIL's switches instead of stalling.
    return await asyncio.to_thread(copied.sorted)
