"""``audittrail listen``: prints each delivery, checks its signatures, scriptable exit code."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from api.models import Role
from tests.helpers import Api
from tests.receivers import SET_WEBHOOK, WEBHOOK_SECRET, unused_port, webhook_input
from tests.support.polling import poll

AUDITTRAIL = Path(sys.executable).parent / "audittrail"


async def start_listener(port: int, secret: str, count: int, *options: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [str(AUDITTRAIL), "listen", "--port", str(port), "--secret", secret, "--count", str(count), *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    async def is_listening() -> bool:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            assert process.poll() is None, process.communicate()
            return False
        writer.close()
        return True

    try:
        await poll(is_listening, timeout=60, what="audittrail listen to accept connections")
    except AssertionError:
        process.kill()  # a listener that never answered must not outlive the test
        process.communicate()
        raise
    return process


async def wait_for_exit(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    async def exited() -> bool:
        return process.poll() is not None

    await poll(exited, timeout=20, what="audittrail listen to exit after --count deliveries")
    stdout, stderr = process.communicate()
    return process.returncode, stdout, stderr


async def test_listen_prints_each_delivery_and_exits_after_count(api: Api) -> None:
    admin = await api.key("acme", Role.ADMIN)
    port = unused_port()
    listener = await start_listener(port, WEBHOOK_SECRET, count=2)
    endpoint = f"http://127.0.0.1:{port}/"
    (await api.gql(SET_WEBHOOK, {"input": webhook_input(endpoint)}, token=admin.jwt)).ok()
    (await api.gql("mutation { auditTrailTestWebhook { status } }", token=admin.jwt)).ok()

    exit_code, output, _ = await wait_for_exit(listener)
    lines = output.splitlines()
    assert exit_code == 0
    assert len(lines) == 2
    assert lines[0].startswith(f"audit_trail_webhook.set actor=api::{admin.id} event=")
    assert lines[1].startswith("audit_trail_webhook.test ")
    assert all(line.endswith("signatures=ok") for line in lines)


async def test_listen_refuses_a_wrong_signature_and_exits_non_zero(api: Api) -> None:
    admin = await api.key("acme", Role.ADMIN)
    port = unused_port()
    listener = await start_listener(port, "not-the-webhook-secret", count=1)
    result = await api.gql(SET_WEBHOOK, {"input": webhook_input(f"http://127.0.0.1:{port}/")}, token=admin.jwt)

    exit_code, output, hints = await wait_for_exit(listener)
    assert result.codes == ["WEBHOOK_VERIFICATION_FAILED"]
    assert "HTTP 401" in result.errors[0]["message"]
    assert exit_code == 1
    assert output.strip().endswith("signatures=FAILED failed=X-Signature,X-Signature-256,webhook-signature")
    assert "did not verify: the webhook was saved with another secret than --secret" in hints


async def test_listen_says_an_unsigned_delivery_comes_from_a_webhook_without_a_secret(api: Api) -> None:
    admin = await api.key("acme", Role.ADMIN)
    port = unused_port()
    listener = await start_listener(port, WEBHOOK_SECRET, 1)
    unsigned = webhook_input(f"http://127.0.0.1:{port}/", secret="")
    result = await api.gql(SET_WEBHOOK, {"input": unsigned}, token=admin.jwt)

    exit_code, _, hints = await wait_for_exit(listener)
    assert result.codes == ["WEBHOOK_VERIFICATION_FAILED"]
    assert exit_code == 1
    assert "no signature headers: the webhook has no secret" in hints


async def test_listen_headers_prints_each_deliverys_request_headers(api: Api) -> None:
    admin = await api.key("acme", Role.ADMIN)
    port = unused_port()
    listener = await start_listener(port, WEBHOOK_SECRET, 1, "--headers")
    custom = {"customHeaders": {"entries": [{"key": "X-Collector-Team", "value": "platform"}]}}
    (await api.gql(SET_WEBHOOK, {"input": webhook_input(f"http://127.0.0.1:{port}/", **custom)}, token=admin.jwt)).ok()

    exit_code, output, _ = await wait_for_exit(listener)
    first, *header_lines = output.splitlines()
    assert exit_code == 0
    assert first.startswith("audit_trail_webhook.set ") and first.endswith("signatures=ok")
    names = [line.strip().split(": ", 1)[0] for line in header_lines]
    assert all(line.startswith("  ") for line in header_lines)
    assert {"x-audit-event-id", "x-signature-256", "webhook-signature", "x-collector-team"} <= set(names)
    assert "  x-collector-team: platform" in header_lines
