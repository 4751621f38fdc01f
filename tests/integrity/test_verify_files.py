"""``audittrail verify --files``: a copy of the trail on disk (as the S3 receiver writes it) checked with the
public key alone; the same tampering as in the database is caught in the copy.  And the CLI's exit codes."""

from __future__ import annotations

import asyncio
import base64
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from api import integrity
from api.cli import app
from api.db import Database
from api.integrity.statement import DigestPart, SignedDigest
from api.settings import Settings
from tests.conftest import TEST_SECRET_KEY
from tests.integrity.support import Trail, digest_until, execute, export_copy, kinds


@pytest.fixture
async def copy(db: Database, keys: integrity.KeyRing, trail: Trail, tmp_path: Path) -> Path:
    """The copy once a later digest lists the first run's digest events, as a receiver's copy holds it."""
    await digest_until(db, keys.signing_key, datetime.now(UTC))
    return await export_copy(db, tmp_path / "bucket" / "account=acme")


def public_keys(keys: integrity.KeyRing) -> dict[str, integrity.PublicKey]:
    return {key.key_id: key for key in integrity.load_public_keys(keys.signing_key.public.pem)}


def rewrite_lines(copy: Path, change: dict[str, bytes | None]) -> None:
    """Replace (or with None drop) the body of the lines of the given event ids."""
    lines = []
    for line in copy.read_bytes().splitlines():
        event_id = orjson.loads(line)["eventId"]
        if event_id not in change:
            lines.append(line)
        elif (body := change[event_id]) is not None:
            lines.append(b'{"eventId":"' + event_id.encode() + b'","body":' + body + b"}")
    copy.write_bytes(b"\n".join(lines) + b"\n")


def body_of(copy: Path, event_id: str) -> bytes:
    for line in copy.read_bytes().splitlines():
        if orjson.loads(line)["eventId"] == event_id:
            return line[len(b'{"eventId":"' + event_id.encode() + b'","body":') : -1]
    raise AssertionError(f"{event_id} is not in the copy")


def digest_events(copy: Path) -> list[tuple[str, SignedDigest]]:
    found = []
    for line in copy.read_bytes().splitlines():
        parsed = orjson.loads(line)
        if parsed["body"]["action"] == "audit_trail.digest":
            found.append((parsed["eventId"], DigestPart.from_event_data(parsed["body"]["data"]).digest))
    return sorted(found, key=lambda pair: pair[1].statement.sequence)


async def test_untouched_copy_verifies_clean(copy: Path, keys: integrity.KeyRing, trail: Trail) -> None:
    report = integrity.verify_files(copy.parent.parent, public_keys(keys))
    assert kinds(report) == []
    assert report.digests_checked >= 2
    listed = {event_id for _, digest in digest_events(copy) for event_id, _ in digest.leaves}
    assert set(trail.event_ids) <= listed


async def test_edited_body_in_the_copy_is_modified(copy: Path, keys: integrity.KeyRing, trail: Trail) -> None:
    target = trail.event_ids[2]
    rewrite_lines(copy, {target: body_of(copy, target).replace(b"stack.update", b"stack.delete")})
    assert kinds(integrity.verify_files(copy.parent, public_keys(keys))) == [("MODIFIED", target)]


async def test_deleted_event_in_the_copy_is_missing(copy: Path, keys: integrity.KeyRing, trail: Trail) -> None:
    target = trail.event_ids[0]
    rewrite_lines(copy, {target: None})
    assert kinds(integrity.verify_files(copy.parent, public_keys(keys))) == [("MISSING", target)]


async def test_forged_event_in_the_copy_is_unexpected(copy: Path, keys: integrity.KeyRing, trail: Trail) -> None:
    forged = "01" + trail.event_ids[0][2:-2] + "ZZ"
    with copy.open("ab") as handle:
        handle.write(b'{"eventId":"' + forged.encode() + b'","body":' + body_of(copy, trail.event_ids[0]) + b"}\n")
    assert kinds(integrity.verify_files(copy.parent, public_keys(keys))) == [("UNEXPECTED", forged)]


async def test_edited_digest_in_the_copy_has_a_bad_signature(copy: Path, keys: integrity.KeyRing) -> None:
    event_id, digest = digest_events(copy)[0]
    body = orjson.loads(body_of(copy, event_id))
    body["data"]["eventCount"] += 1
    rewrite_lines(copy, {event_id: orjson.dumps(body)})
    # The digest fails its signature, and the event that carried it is listed, unedited, by a later digest.
    assert kinds(integrity.verify_files(copy.parent, public_keys(keys))) == sorted(
        [("BAD_SIGNATURE", digest.digest_id), ("MODIFIED", event_id)]
    )


async def test_digest_resigned_with_another_key_in_the_copy_has_a_bad_signature(
    copy: Path, keys: integrity.KeyRing
) -> None:
    event_id, digest = digest_events(copy)[0]
    other = integrity.SigningKey(Ed25519PrivateKey.generate())
    body = orjson.loads(body_of(copy, event_id))
    forged = replace(digest.statement, key_id=other.public.key_id)
    body["data"].update(forged.fields())
    body["data"]["signature"] = base64.b64encode(other.sign(forged.signed_bytes())).decode()
    rewrite_lines(copy, {event_id: orjson.dumps(body)})
    report = integrity.verify_files(copy.parent, public_keys(keys))
    assert kinds(report) == sorted([("BAD_SIGNATURE", digest.digest_id), ("MODIFIED", event_id)])
    assert "unknown key id" in next(p.detail for p in report.problems if p.kind.value == "BAD_SIGNATURE")


async def test_a_digest_dropped_from_the_copy_is_digest_missing(
    copy: Path, keys: integrity.KeyRing, trail: Trail
) -> None:
    """Dropping a digest event drops what lists the events it covered: the chain shows the gap."""
    events = digest_events(copy)
    assert len(events) >= 3
    rewrite_lines(copy, {events[1][0]: None})
    found = kinds(integrity.verify_files(copy.parent, public_keys(keys)))
    assert ("DIGEST_MISSING", f"{trail.account_name}#{events[1][1].statement.sequence}") in found


@pytest.fixture
def cli(settings: Settings, keys: integrity.KeyRing) -> CliRunner:
    return CliRunner(
        env={
            "DATABASE_URL": settings.database_url,
            "REDIS_URL": settings.redis_url,
            "AUDITTRAIL_SECRET_KEY": TEST_SECRET_KEY,
            "AUDITTRAIL_DATA_DIR": str(settings.data_dir),
        }
    )


async def test_cli_verify_files_exits_0_when_clean_and_1_with_each_problem(
    cli: CliRunner, copy: Path, keys: integrity.KeyRing, trail: Trail, tmp_path: Path
) -> None:
    key_file = tmp_path / "digest-keys.pem"
    key_file.write_text(keys.signing_key.public.pem)
    clean = cli.invoke(app, ["verify", "--files", str(copy.parent), "--public-key", str(key_file)])
    assert clean.exit_code == 0, clean.output
    assert "clean" in clean.output
    rewrite_lines(copy, {trail.event_ids[1]: None})
    tampered = cli.invoke(app, ["verify", "--files", str(copy.parent), "--public-key", str(key_file)])
    assert tampered.exit_code == 1
    assert f"MISSING\t{trail.event_ids[1]}" in tampered.output


async def test_cli_verify_files_refuses_without_a_public_key(cli: CliRunner, copy: Path) -> None:
    result = cli.invoke(app, ["verify", "--files", str(copy.parent)])
    assert result.exit_code == 2
    assert "--public-key" in result.output


async def test_cli_verify_database_exits_0_when_clean_and_1_with_each_problem(
    cli: CliRunner, db: Database, trail: Trail
) -> None:
    clean = await asyncio.to_thread(cli.invoke, app, ["verify", "--account", "acme"])
    assert clean.exit_code == 0, clean.output
    await execute(db, "UPDATE audit_events SET action = 'stack.delete' WHERE id = :id", id=trail.event_ids[4])
    tampered = await asyncio.to_thread(cli.invoke, app, ["verify"])
    assert tampered.exit_code == 1
    assert f"MODIFIED\t{trail.event_ids[4]}\tacme" in tampered.output
    unknown = await asyncio.to_thread(cli.invoke, app, ["verify", "--account", "nobody"])
    assert unknown.exit_code == 2


async def test_hostile_bytes_in_the_copy_are_reported_not_crashed_on(
    copy: Path, keys: integrity.KeyRing, trail: Trail
) -> None:
    event_id, _ = digest_events(copy)[0]
    body = orjson.loads(body_of(copy, event_id))
    body["data"]["events"] = [["é" * 26, "00" * 32]]
    rewrite_lines(copy, {event_id: orjson.dumps(body)})
    with copy.open("ab") as handle:
        handle.write(b"\xff\xfe not json\n" + b'{"eventId": 5, "body": {}}\n' + b"[1, 2, 3]\n")
    report = integrity.verify_files(copy.parent, public_keys(keys))
    found = kinds(report)
    assert ("BAD_SIGNATURE", event_id) in found  # the digest event cannot be read as a digest
    assert [kind for kind, subject in found if subject.startswith(copy.name)] == ["MODIFIED"] * 3
    assert not report.is_clean
