"""Output types of verification and of the digest keys."""

from __future__ import annotations

import strawberry

from api import integrity
from api.graphql.scalars import unix_seconds

IntegrityProblemKind = strawberry.enum(integrity.ProblemKind, name="AuditTrailIntegrityProblemKind")


@strawberry.type(name="AuditTrailDigestPublicKey")
class DigestPublicKey:
    key_id: str = strawberry.field(description="Hex of the first 16 bytes of SHA-256 of the raw key.")
    public_key: str = strawberry.field(description="The 32 raw Ed25519 key bytes, base64.")
    pem: str = strawberry.field(description="SubjectPublicKeyInfo PEM, for `audittrail verify --public-key`.")
    current: bool = strawberry.field(description="Whether new digests are signed with this key.")

    @classmethod
    def from_key(cls, key: integrity.PublicKey) -> DigestPublicKey:
        return cls(key_id=key.key_id, public_key=key.raw_base64, pem=key.pem, current=key.is_current)


@strawberry.type(name="AuditTrailIntegrityProblem")
class IntegrityProblem:
    kind: IntegrityProblemKind  # type: ignore[valid-type]  # strawberry enum wrapper
    id: str = strawberry.field(
        description="The event id, the digest id, or `<account>#<sequence>` of a missing digest."
    )
    detail: str


@strawberry.type(name="AuditTrailVerification")
class Verification:
    clean: bool
    problems: list[IntegrityProblem]
    digests_checked: int
    events_checked: int
    expired_events: int = strawberry.field(description="Listed by a digest, removed by retention: not a problem.")
    pending_events: int = strawberry.field(description="Recorded after the last digest: not covered yet.")
    verified_until: int | None = strawberry.field(description="Unix seconds: the end of the last digest checked.")

    @classmethod
    def from_report(cls, report: integrity.VerifyReport) -> Verification:
        return cls(
            clean=report.is_clean,
            problems=[
                IntegrityProblem(kind=problem.kind, id=problem.subject_id, detail=problem.detail)
                for problem in sorted(report.problems)
            ],
            digests_checked=report.digests_checked,
            events_checked=report.events_checked,
            expired_events=len(report.expired_event_ids),
            pending_events=report.pending_events,
            verified_until=unix_seconds(report.verified_until),
        )
