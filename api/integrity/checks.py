"""The checks both verifiers share: the digest chain and signatures, and a digest's leaves against the
events found for it.  Pure, so the ``--files`` verifier runs them without a database."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from api.integrity.keys import PublicKey
from api.integrity.problems import ProblemKind, VerifyReport
from api.integrity.statement import SignedDigest, format_time


def check_chain(
    report: VerifyReport,
    digests: Sequence[SignedDigest],
    keys: Mapping[str, PublicKey],
    *,
    preceding: SignedDigest | None = None,
) -> list[SignedDigest]:
    """Check signatures, leaves and links of one account's ``digests`` (ascending sequence); return the
    digests whose leaves can be trusted.  ``preceding`` is the digest just before the first, if known.

    A digest that fails its signature is reported once, as BAD_SIGNATURE; its successor's link to it
    is then not reported again (the cause is the edited digest, not the chain).
    """
    trusted = []
    previous = preceding
    previous_is_signed = preceding is not None
    for digest in digests:
        statement = digest.statement
        report.digests_checked += 1
        unsigned_because = signature_problem(digest, keys)
        is_signed = unsigned_because is None
        if unsigned_because is not None:
            report.add(ProblemKind.BAD_SIGNATURE, digest.digest_id, statement.account, unsigned_because)
        elif digest.leaves.root() != statement.merkle_root or len(digest.leaves) != statement.event_count:
            report.add(
                ProblemKind.BAD_SIGNATURE,
                digest.digest_id,
                statement.account,
                "the listed events do not give the signed Merkle root and count",
            )
            is_signed = False
        else:
            trusted.append(digest)
        _check_link(report, previous, digest, previous_is_signed=previous_is_signed)
        previous, previous_is_signed = digest, is_signed
        report.verified_until = statement.interval_end
    return trusted


def signature_problem(digest: SignedDigest, keys: Mapping[str, PublicKey]) -> str | None:
    """Why ``digest``'s signature does not hold, or None when it does."""
    key = keys.get(digest.statement.key_id)
    if key is None:
        return f"unknown key id {digest.statement.key_id!r}"
    return None if key.verifies(digest.signature, digest.statement.signed_bytes()) else "signature does not verify"


def _check_link(
    report: VerifyReport, previous: SignedDigest | None, digest: SignedDigest, *, previous_is_signed: bool
) -> None:
    statement = digest.statement
    if previous is None:
        if statement.sequence == 1 and statement.previous_digest_hash is not None:
            report.add(
                ProblemKind.CHAIN_BROKEN, digest.digest_id, statement.account, "the first digest names a predecessor"
            )
        return
    gap = statement.sequence - previous.statement.sequence - 1
    if gap > 0 or statement.interval_start != previous.statement.interval_end:
        first_missing = previous.statement.sequence + 1
        report.add(
            ProblemKind.DIGEST_MISSING,
            f"{statement.account}#{first_missing}",
            statement.account,
            f"no digest between sequence {previous.statement.sequence}"
            f" (ending {format_time(previous.statement.interval_end)}) and sequence {statement.sequence}"
            f" (starting {format_time(statement.interval_start)})",
        )
        return
    if previous_is_signed and statement.previous_digest_hash != previous.digest_hash:
        report.add(
            ProblemKind.CHAIN_BROKEN,
            digest.digest_id,
            statement.account,
            f"does not name the hash of digest {previous.digest_id} (sequence {previous.statement.sequence})",
        )


def compare_leaves(
    report: VerifyReport, digest: SignedDigest, found: Mapping[str, bytes], *, elsewhere: Mapping[str, bytes]
) -> list[str]:
    """Report events of ``found`` (id → hash recomputed from the body) that differ from or are absent
    from the digest's leaves; return the listed ids found nowhere (MISSING or expired: the caller knows).

    ``elsewhere`` holds listed events found outside the interval (their recording time moved): MODIFIED.
    """
    account = digest.statement.account
    listed = digest.leaves.by_id()
    for event_id, actual in found.items():
        expected = listed.get(event_id)
        if expected is None:
            report.add(ProblemKind.UNEXPECTED, event_id, account, f"not listed by digest {digest.digest_id}")
        elif expected != actual:
            report.add(ProblemKind.MODIFIED, event_id, account, f"hash differs from digest {digest.digest_id}")
    gone = []
    for event_id in listed.keys() - found.keys():
        if event_id in elsewhere:
            report.add(
                ProblemKind.MODIFIED, event_id, account, f"recorded outside digest {digest.digest_id}'s interval"
            )
        else:
            gone.append(event_id)
    return sorted(gone)
