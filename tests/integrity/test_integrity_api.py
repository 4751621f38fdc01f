"""GraphQL: the digest public keys, ``auditTrailVerify`` per account and role, and the switch for digest events."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from api import integrity
from api.db import Database
from api.models import Role
from api.settings import Settings
from tests.helpers import Api
from tests.integrity.support import digest_everything, execute, seed_trail

VERIFY = """
query($input: AuditTrailVerifyInput!) {
  auditTrailVerify(input: $input) {
    clean digestsChecked eventsChecked expiredEvents pendingEvents verifiedUntil problems { kind id detail }
  }
}
"""


@pytest.fixture
def keys(settings: Settings) -> integrity.KeyRing:
    return integrity.KeyRing.from_settings(settings)


async def test_public_keys_are_listed_with_ids_for_any_key(api: Api, keys: integrity.KeyRing) -> None:
    service = await api.key("acme", Role.SERVICE)
    listed = (await api.gql("{ auditTrailDigestPublicKeys { keyId publicKey pem current } }", token=service.jwt)).ok()
    current = keys.signing_key.public
    assert listed["auditTrailDigestPublicKeys"] == [
        {"keyId": current.key_id, "publicKey": current.raw_base64, "pem": current.pem, "current": True}
    ]
    assert "PRIVATE" not in str(listed)


async def test_public_keys_need_a_token(api: Api) -> None:
    assert (await api.gql("{ auditTrailDigestPublicKeys { keyId } }")).codes == ["UNAUTHENTICATED"]


async def test_verify_reports_the_callers_account_only(api: Api, db: Database, keys: integrity.KeyRing) -> None:
    reader = await api.key("acme", Role.READER)
    ours = await seed_trail(db, "acme", count=3)
    theirs = await seed_trail(db, "globex", count=3)
    await digest_everything(db, keys.signing_key)
    await execute(db, "DELETE FROM audit_events WHERE id = :id", id=theirs.event_ids[0])
    clean = (await api.gql(VERIFY, {"input": {}}, token=reader.jwt)).ok()["auditTrailVerify"]
    assert clean["clean"] is True and clean["problems"] == []
    assert clean["eventsChecked"] >= len(ours.event_ids) and clean["digestsChecked"] >= 1

    await execute(db, "UPDATE audit_events SET data = '{}' WHERE id = :id", id=ours.event_ids[1])
    found = (await api.gql(VERIFY, {"input": {}}, token=reader.jwt)).ok()["auditTrailVerify"]
    assert found["clean"] is False
    assert [(p["kind"], p["id"]) for p in found["problems"]] == [("MODIFIED", ours.event_ids[1])]


async def test_verify_refuses_service_keys_and_bad_ranges(api: Api) -> None:
    service = await api.key("acme", Role.SERVICE)
    admin = await api.key("acme", Role.ADMIN)
    assert (await api.gql(VERIFY, {"input": {}}, token=service.jwt)).codes == ["FORBIDDEN"]
    backwards = await api.gql(VERIFY, {"input": {"from": 2000, "to": 1000}}, token=admin.jwt)
    assert backwards.codes == ["BAD_USER_INPUT"]
    huge = await api.gql(VERIFY, {"input": {"from": -5}}, token=admin.jwt)
    assert huge.codes == ["BAD_USER_INPUT"]


async def test_turning_digest_events_off_is_admin_only_and_audited(
    api: Api, db: Database, keys: integrity.KeyRing
) -> None:
    admin = await api.key("acme", Role.ADMIN)
    reader = await api.key("acme", Role.READER)
    mutation = "mutation($on: Boolean!) { auditTrailSetDigestEvents(enabled: $on) }"
    assert (await api.gql(mutation, {"on": False}, token=reader.jwt)).codes == ["FORBIDDEN"]
    assert (await api.gql(mutation, {"on": False}, token=admin.jwt)).ok() == {"auditTrailSetDigestEvents": False}
    await digest_everything(db, keys.signing_key)
    async with db.transaction() as session:
        actions = list((await session.execute(text("SELECT action FROM audit_events ORDER BY action"))).scalars())
        digests = (await session.execute(text("SELECT count(*) FROM audit_digests"))).scalar_one()
    assert "account.set_digest_events" in actions
    assert "audit_trail.digest" not in actions
    assert digests >= 1
