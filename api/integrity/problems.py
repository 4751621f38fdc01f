"""What verification finds: each problem with its kind and the id it concerns, and the totals."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


class ProblemKind(enum.StrEnum):
    MODIFIED = "MODIFIED"
    """The event's body, hash or a column differs from what its digest (or its own hash) says."""
    MISSING = "MISSING"
    """A digest lists the event, and it is gone without retention explaining it."""
    UNEXPECTED = "UNEXPECTED"
    """The event's recording time lies in a digested interval whose digest does not list it."""
    CHAIN_BROKEN = "CHAIN_BROKEN"
    """The digest does not name the hash of the digest before it."""
    BAD_SIGNATURE = "BAD_SIGNATURE"
    """The digest as stored is not what was signed: unknown key, wrong signature, or leaves off its root."""
    DIGEST_MISSING = "DIGEST_MISSING"
    """A sequence number or interval between two digests has no digest."""


@dataclass(frozen=True, order=True)
class Problem:
    kind: ProblemKind
    subject_id: str
    """The event id (MODIFIED, MISSING, UNEXPECTED), the digest id, or for DIGEST_MISSING ``<account>#<sequence>``."""
    account: str
    detail: str


@dataclass
class VerifyReport:
    """The outcome of one verification; ``is_clean`` decides the exit code."""

    problems: list[Problem] = field(default_factory=list)
    digests_checked: int = 0
    events_checked: int = 0
    expired_event_ids: list[str] = field(default_factory=list)
    """Listed by a digest, gone, and older than the account's retention: removed as configured."""
    pending_events: int = 0
    """Recorded after the last digest checked: not covered yet."""
    verified_until: datetime | None = None
    """The end of the last digest checked."""
    _reported: set[tuple[ProblemKind, str]] = field(default_factory=set, repr=False)
    """(kind, subject) of ``problems``: a set, since a tampered million-event interval adds a million."""

    @property
    def is_clean(self) -> bool:
        return not self.problems

    def add(self, kind: ProblemKind, subject_id: str, account: str, detail: str) -> None:
        """Record one problem, once: an event whose body changed fails both its own hash and its digest's."""
        if (kind, subject_id) in self._reported:
            return
        self._reported.add((kind, subject_id))
        self.problems.append(Problem(kind=kind, subject_id=subject_id, account=account, detail=detail))
