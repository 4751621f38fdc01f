"""The export as a stream over real uvicorn: a client that leaves stops it, and the NDJSON lines are
the very bytes the webhook received."""

from __future__ import annotations

import httpx
import pytest
from structlog.testing import capture_logs

from api.app import create_app
from api.models import Role
from api.settings import Settings
from tests.export.conftest import BATCH_SIZE
from tests.helpers import Api
from tests.receivers import SET_WEBHOOK, Receiver, webhook_input
from tests.support.live_server import serving
from tests.support.polling import poll
from tests.test_audit_support import ago, draft, seed

PADDED_EVENTS = 3_000  # ~24 MB of bodies: far more than the socket buffers hold


@pytest.mark.parametrize("export_format", ["ndjson", "csv"])
async def test_a_client_that_disconnects_mid_stream_stops_the_export(
    api: Api, export_settings: Settings, export_format: str
) -> None:
    key = await api.key("acme", Role.READER, login=False)
    padding = {"pad": "x" * 8000}
    for first in range(0, PADDED_EVENTS, 1000):
        drafts = [draft(at=ago(seconds=index + 1), data=padding) for index in range(first, first + 1000)]
        await seed(api.db, key.account_id, drafts)
    app = create_app(export_settings)
    with capture_logs() as logs:
        async with serving(app) as base_url, httpx.AsyncClient(base_url=base_url, timeout=30) as client:
            live = Api(client, api.db, export_settings)  # tokens are accepted only at the URL they were issued for
            headers = {"Authorization": f"Bearer {await live.login(key.id, key.secret)}"}
            params = {"format": export_format}
            async with client.stream("GET", "/export", params=params, headers=headers) as response:
                assert response.status_code == 200
                received = 0
                async for chunk in response.aiter_bytes():
                    received += len(chunk)
                    if received > 100_000:
                        break  # leaving the block closes the connection mid-stream

            def export_ended() -> bool:
                return any(entry["event"] == "export ended" for entry in logs)

            await poll(export_ended, timeout=15, what="the export to end")
    ended = next(entry for entry in logs if entry["event"] == "export ended")
    assert ended["complete"] is False
    assert ended["rows"] < PADDED_EVENTS - 2 * BATCH_SIZE


async def test_ndjson_lines_are_the_bytes_the_webhook_received(api: Api, receiver: Receiver, worker: None) -> None:
    admin = await api.key("acme", Role.ADMIN)
    (await api.gql(SET_WEBHOOK, {"input": webhook_input(receiver.url)}, token=admin.jwt)).ok()
    await seed(api.db, admin.account_id, [draft(f"stack.step_{n}", data={"n": n, "é": "ü"}) for n in range(20)])
    delivered = await receiver.wait_for(21)  # the set-webhook event, then the twenty
    response = await api.client.get(
        "/export", params={"format": "ndjson"}, headers={"Authorization": f"Bearer {admin.jwt}"}
    )
    exported = set(response.content.split(b"\n")[:-1])
    assert {request.body for request in delivered} <= exported
    assert len(exported) == 22  # the delivered, and the login (recorded before the webhook existed)
