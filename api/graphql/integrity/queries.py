"""Queries of tamper evidence."""

from __future__ import annotations

from datetime import UTC, datetime

import strawberry

from api import integrity
from api.errors import BadInput
from api.graphql.context import AppInfo
from api.graphql.integrity.types import DigestPublicKey, Verification
from api.graphql.permissions import AnyKey, Readers


@strawberry.input(name="AuditTrailVerifyInput")
class VerifyInput:
    from_: int | None = strawberry.field(
        default=None, name="from", description="Unix seconds of recording time to start at; the chain's start if unset."
    )
    to: int | None = strawberry.field(default=None, description="Unix seconds of recording time to stop before.")

    def time_range(self) -> integrity.TimeRange:
        """The range, or BAD_USER_INPUT when it is empty or out of bounds."""
        start, end = _moment("from", self.from_), _moment("to", self.to)
        if start and end and start >= end:
            raise BadInput(f"from must be before to, got from={self.from_} and to={self.to}")
        return integrity.TimeRange(start, end)


def _moment(name: str, seconds: int | None) -> datetime | None:
    if seconds is None:
        return None
    if not 0 <= seconds < 253_402_300_800:
        raise BadInput(f"{name} must be unix seconds between 0 and 253402300799, got {seconds}")
    return datetime.fromtimestamp(seconds, UTC)


@strawberry.type
class IntegrityQuery:
    @strawberry.field(
        description="Public keys that verify the account's digests, current first, then retired ones. Any key.",
        permission_classes=[AnyKey],
    )
    async def audit_trail_digest_public_keys(self, info: AppInfo) -> list[DigestPublicKey]:
        key_ring = integrity.KeyRing.from_settings(info.context.services.settings)
        return [DigestPublicKey.from_key(key) for key in key_ring.public_keys]

    @strawberry.field(
        description="Verify the account's events and digests over a range of recording time. ADMIN or READER.",
        permission_classes=[Readers],
    )
    async def audit_trail_verify(self, info: AppInfo, input: VerifyInput) -> Verification:
        time_range = input.time_range()
        identity = await info.context.identity()
        services = info.context.services
        account = integrity.AccountToVerify(identity.account_id, identity.account_name, identity.retention_days)
        keys = integrity.KeyRing.from_settings(services.settings).by_id()
        # A transaction of its own (REPEATABLE READ), not the request's shared read transaction.
        report = await integrity.verify_database(services.db, [account], keys, time_range)
        return Verification.from_report(report)
