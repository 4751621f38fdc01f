"""Tamper evidence: event hashes (``api.audit.hashing``), signed digests chained per account, and the
verifiers that check the database or a copy outside it against them (docs/design.md, "Integrity")."""

from api.integrity.digester import DigestRun, DigestSchedule, write_due_digests
from api.integrity.keys import KeyRing, PublicKey, SigningKey, load_public_keys
from api.integrity.problems import Problem, ProblemKind, VerifyReport
from api.integrity.time_range import TimeRange
from api.integrity.verify_db import AccountToVerify, accounts_to_verify, verify_database
from api.integrity.verify_files import verify_files

__all__ = [
    "AccountToVerify",
    "DigestRun",
    "DigestSchedule",
    "KeyRing",
    "Problem",
    "ProblemKind",
    "PublicKey",
    "SigningKey",
    "TimeRange",
    "VerifyReport",
    "accounts_to_verify",
    "load_public_keys",
    "verify_database",
    "verify_files",
    "write_due_digests",
]
