"""``audittrail verify --files DIR``: a copy outside the database (the S3 receiver's bucket, an export)
checked against the digests it holds, with public keys only: no database, no service secret.

The copy is NDJSON lines ``{"eventId":"<id>","body":<body bytes>}`` (``*.ndjson``) and one body per
file named ``<timestamp>-<id>.json`` (``*.json``), as the S3 receiver writes them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from api.audit.hashing import event_hash
from api.integrity.checks import check_chain, compare_leaves, signature_problem
from api.integrity.keys import PublicKey
from api.integrity.problems import ProblemKind, VerifyReport
from api.integrity.statement import DIGEST_ACTION, DIGEST_ACTOR, DigestPart, PartsDisagree, SignedDigest, assemble
from api.integrity.time_range import TimeRange

EVENT_FILE_NAME = re.compile(r"^\d+-([0-9A-HJKMNP-TV-Z]{26})\.json$")
NDJSON_HEAD = re.compile(rb'^\{"eventId":"([0-9A-HJKMNP-TV-Z]{26})","body":')
EVENT_ID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")


@dataclass
class CopiedAccount:
    """One account's part of the copy."""

    bodies: dict[str, bytes] = field(default_factory=dict)
    parts: dict[str, list[DigestPart]] = field(default_factory=dict)
    """Each digest's delivered parts by digest id, as read."""
    digests: dict[str, SignedDigest] = field(default_factory=dict)
    """The digests whose parts are all in the copy.  One with a part missing is left out of the chain
    (``DIGEST_MISSING`` once a later digest has arrived; until then its other parts may be on their way)."""
    incomplete: list[SignedDigest] = field(default_factory=list)
    """Digests with a part missing, each with the leaves of one part that arrived."""
    partly_listed: set[str] = field(default_factory=set)
    """Events listed by the parts that arrived of a digest left out: only those of its missing parts
    are then reported as listed by no digest."""


def read_copy(directory: Path, report: VerifyReport) -> dict[str, CopiedAccount]:
    """Every event of the copy by account; the same id twice with different bodies is MODIFIED."""
    accounts: dict[str, CopiedAccount] = {}
    seen: dict[str, bytes] = {}
    for event_id, body in _copied_events(directory, report):
        if event_id in seen:
            if seen[event_id] != body:
                report.add(ProblemKind.MODIFIED, event_id, "", "the copy holds two different bodies for this id")
            continue
        seen[event_id] = body
        try:
            parsed = orjson.loads(body)
            account_name = str(parsed["account"])
        except (orjson.JSONDecodeError, KeyError, TypeError):
            report.add(ProblemKind.MODIFIED, event_id, "", "the body is not an event's JSON object")
            continue
        account = accounts.setdefault(account_name, CopiedAccount())
        account.bodies[event_id] = body
        if parsed.get("action") == DIGEST_ACTION and parsed.get("actor") == DIGEST_ACTOR:
            _add_digest_part(account, event_id, parsed, report, account_name)
    for account_name, account in accounts.items():
        _assemble_digests(account, report, account_name)
    return accounts


def _add_digest_part(
    account: CopiedAccount, event_id: str, parsed: Any, report: VerifyReport, account_name: str
) -> None:
    try:
        part = DigestPart.from_event_data(parsed["data"])
    except (KeyError, ValueError, TypeError):
        report.add(ProblemKind.BAD_SIGNATURE, event_id, account_name, "a digest event whose digest cannot be read")
        return
    account.parts.setdefault(part.digest.digest_id, []).append(part)


def _assemble_digests(account: CopiedAccount, report: VerifyReport, account_name: str) -> None:
    for digest_id, parts in account.parts.items():
        try:
            digest = assemble(parts)
        except PartsDisagree as disagreement:
            report.add(ProblemKind.BAD_SIGNATURE, digest_id, account_name, str(disagreement))
            continue
        if digest is not None:
            account.digests[digest_id] = digest
        else:
            account.incomplete.append(parts[0].digest)
            account.partly_listed.update(event_id for part in parts for event_id, _ in part.digest.leaves)


def _check_incomplete(
    report: VerifyReport,
    account: CopiedAccount,
    account_name: str,
    keys: Mapping[str, PublicKey],
    time_range: TimeRange,
) -> None:
    """A digest whose parts do not all add up is BAD_SIGNATURE when what its parts carry is not what
    was signed (an edited count, say), and otherwise DIGEST_MISSING once a later digest has arrived
    (until then its other parts may be on their way)."""
    last_sequence = max(
        (digest.statement.sequence for digest in [*account.digests.values(), *account.incomplete]), default=0
    )
    for digest in account.incomplete:
        statement = digest.statement
        if not time_range.holds(statement):
            continue
        if (unsigned_because := signature_problem(digest, keys)) is not None:
            report.add(ProblemKind.BAD_SIGNATURE, digest.digest_id, account_name, unsigned_because)
        elif statement.sequence < last_sequence:
            report.add(
                ProblemKind.DIGEST_MISSING,
                f"{account_name}#{statement.sequence}",
                account_name,
                f"the copy lacks part of digest {digest.digest_id}'s list of {statement.event_count} events",
            )


def _copied_events(directory: Path, report: VerifyReport) -> Iterator[tuple[str, bytes]]:
    for path in sorted(directory.rglob("*")):
        if path.suffix == ".ndjson":
            for number, line in enumerate(path.read_bytes().splitlines(), start=1):
                try:
                    parsed = _ndjson_event(line)
                except (orjson.JSONDecodeError, KeyError, TypeError):
                    where = f"{path.relative_to(directory)}:{number}"
                    report.add(ProblemKind.MODIFIED, where, "", "a line that is not an event")
                    continue
                if parsed:
                    yield parsed
        elif path.suffix == ".json" and (match := EVENT_FILE_NAME.match(path.name)):
            yield match.group(1), path.read_bytes()


def _ndjson_event(line: bytes) -> tuple[str, bytes] | None:
    """The id and the body's exact bytes, cut out of the line rather than re-serialised."""
    head = NDJSON_HEAD.match(line)
    if head and line.endswith(b"}"):
        return head.group(1).decode(), line[head.end() : -1]
    if not line.strip():
        return None
    parsed = orjson.loads(line)  # another producer's framing: the body's bytes as orjson writes them
    event_id = parsed["eventId"]
    if not isinstance(event_id, str) or not EVENT_ID.match(event_id):
        raise TypeError("eventId is not an event id")
    return event_id, orjson.dumps(parsed["body"])


def verify_files(directory: Path, keys: Mapping[str, PublicKey], time_range: TimeRange | None = None) -> VerifyReport:
    """Check the copy's chain, signatures and every event its digests list; see the module docstring.

    With ``time_range``, only digests whose interval lies inside it are checked: a copy that starts
    when its webhook was set up lacks the events recorded before, which the first digest it received
    may list.
    """
    report = VerifyReport()
    for account_name, account in sorted(read_copy(directory, report).items()):
        verify_copied_account(report, account_name, account, keys, time_range or TimeRange())
    return report


def verify_copied_account(
    report: VerifyReport,
    account_name: str,
    account: CopiedAccount,
    keys: Mapping[str, PublicKey],
    time_range: TimeRange,
) -> None:
    """One account of the copy, checked from its first digest on (a copy may start after the chain did).

    An event no digest lists is UNEXPECTED once a digest whose interval starts after the time the
    event claims has arrived; before that it may simply be waiting for its digest (pending).
    """
    digests = sorted(
        (digest for digest in account.digests.values() if time_range.holds(digest.statement)),
        key=lambda digest: digest.statement.sequence,
    )
    _check_incomplete(report, account, account_name, keys, time_range)
    trusted = check_chain(report, digests, keys)
    listed = {event_id for digest in digests for event_id, _ in digest.leaves} | account.partly_listed
    for digest in trusted:
        found = {
            event_id: event_hash(event_id, account.bodies[event_id])
            for event_id, _ in digest.leaves
            if event_id in account.bodies
        }
        for event_id in compare_leaves(report, digest, found, elsewhere={}):
            report.add(
                ProblemKind.MISSING, event_id, account_name, f"listed by digest {digest.digest_id}, not in the copy"
            )
    report.events_checked += len(account.bodies)
    first_start_ms = _ms(digests[0].statement.interval_start) if digests and time_range.start else 0
    last_start_ms = _ms(digests[-1].statement.interval_start) if digests else None
    for event_id in sorted(account.bodies.keys() - listed):
        claimed_ms = orjson.loads(account.bodies[event_id]).get("timestamp")
        if not isinstance(claimed_ms, int) or claimed_ms < first_start_ms:
            continue  # before the range: not this verification's business
        if last_start_ms is not None and claimed_ms < last_start_ms:
            report.add(ProblemKind.UNEXPECTED, event_id, account_name, "no digest lists it")
        else:
            report.pending_events += 1


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)
