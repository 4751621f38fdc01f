"""A poison receiver: every retry of every delivery meets another hostile answer (NUL bytes, invalid
UTF-8, non-ASCII header values, headers too large, a body trickled one byte at a time, a NUL in a
header, a body cut short).  A real worker process with a short retry schedule keeps going: each
attempt is recorded with its status or error, the attempt limit holds exactly, and every delivery
ends FAILED with the last error, none left PENDING.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import httpx
from sqlalchemy import text

from api.db import Database
from api.models import Role
from tests.reliability.stack import CANARY_WEBHOOK_SECRET, WEBHOOK_TIMEOUT_SECONDS, Stack
from tests.support.polling import poll
from tests.support.processes import stop_process

RECORD = "mutation($events: [AuditTrailEventInput!]!) { auditTrailRecordEvents(events: $events) { id } }"
SET_WEBHOOK = "mutation($input: AuditTrailWebhookInput!) { auditTrailSetWebhook(input: $input) { enabled } }"
EVENTS = 3
RETRY_SCHEDULE = "[0.2, 0.2, 0.2, 0.2, 0.2, 0.2]"
MAX_ATTEMPTS = 7  # the first and one per step of the schedule


def answer(status_line: bytes, headers: bytes = b"", body: bytes = b"") -> bytes:
    return status_line + b"\r\nConnection: close\r\nContent-Length: %d\r\n" % len(body) + headers + b"\r\n" + body


async def nul_bytes_in_the_body(writer: asyncio.StreamWriter) -> None:
    writer.write(answer(b"HTTP/1.1 500 Oops", body=b"nul\x00in\x00the body"))


async def invalid_utf8_in_the_body(writer: asyncio.StreamWriter) -> None:
    writer.write(answer(b"HTTP/1.1 502 Bad Gateway", body=b"\xff\xfe broken \xc3\x28 \xed\xa0\x80"))


async def non_ascii_header_values(writer: asyncio.StreamWriter) -> None:
    hostile = b"X-Note: na\xc3\xafve \xe2\x98\x83\r\nX-Latin: caf\xe9\r\n"
    writer.write(answer(b"HTTP/1.1 503 Unavailable", headers=hostile, body=b"busy"))


async def headers_too_large(writer: asyncio.StreamWriter) -> None:
    writer.write(answer(b"HTTP/1.1 200 OK", headers=b"X-Huge: " + b"h" * 300_000 + b"\r\n", body=b"ok"))


async def a_body_one_byte_at_a_time(writer: asyncio.StreamWriter) -> None:
    body = b"s" * 100
    writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % len(body))
    for byte in body:  # 5 s in all, far past the worker's timeout
        writer.write(bytes([byte]))
        await writer.drain()
        await asyncio.sleep(0.05)


async def a_nul_byte_in_a_header(writer: asyncio.StreamWriter) -> None:
    writer.write(answer(b"HTTP/1.1 200 OK", headers=b"X-Bad: a\x00b\r\n", body=b"ok"))


async def a_body_cut_short(writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1000\r\n\r\nonly this")


# Attempt n gets POISONS[n - 1]; with what its record must show (a status code, or an error saying this).
POISONS: list[tuple[Callable[[asyncio.StreamWriter], Awaitable[None]], int | str]] = [
    (nul_bytes_in_the_body, 500),
    (invalid_utf8_in_the_body, 502),
    (non_ascii_header_values, 503),
    (headers_too_large, "RemoteProtocolError"),
    (a_body_one_byte_at_a_time, f"timed out after {WEBHOOK_TIMEOUT_SECONDS:g} s"),
    (a_nul_byte_in_a_header, "RemoteProtocolError"),
    (a_body_cut_short, "RemoteProtocolError"),
]
assert len(POISONS) == MAX_ATTEMPTS


@dataclass(frozen=True)
class RecordedAttempt:
    attempts: int
    status: str
    last_status_code: int | None
    last_error: str | None
    response_snippet: str | None


@dataclass
class PoisonReceiver:
    """Answers attempt n of each delivery with poison n; when attempt n arrives it reads what the
    service recorded for attempt n - 1 (recorded before the retry was scheduled)."""

    db: Database
    attempts_seen: dict[str, list[int]] = field(default_factory=dict)
    recorded_before: dict[tuple[str, int], RecordedAttempt] = field(default_factory=dict)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            headers = {
                name.strip().lower(): value.strip()
                for name, _, value in (line.partition(":") for line in head.split("\r\n")[1:] if line)
            }
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            if b'"audit_trail_webhook.set"' in body:
                writer.write(answer(b"HTTP/1.1 200 OK", body=b"ok"))  # verify-on-save of the set-up
            else:
                delivery_id, attempt = headers["x-audit-delivery-id"], int(headers["x-audit-attempt"])
                self.attempts_seen.setdefault(delivery_id, []).append(attempt)
                if attempt > 1:
                    self.recorded_before[(delivery_id, attempt - 1)] = await read_delivery(self.db, delivery_id)
                poison, _ = POISONS[min(attempt, MAX_ATTEMPTS) - 1]
                await poison(writer)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the worker gave up on a trickle: its timeout, as expected
        finally:
            writer.close()


async def read_delivery(db: Database, delivery_id: str) -> RecordedAttempt:
    async with db.transaction() as session:
        row = (
            await session.execute(
                text(
                    "SELECT attempts, status, last_status_code, last_error, response_snippet"
                    " FROM webhook_deliveries WHERE id = :id"
                ),
                {"id": delivery_id},
            )
        ).one()
    return RecordedAttempt(*row)


async def deliveries_of(db: Database, account_id: str) -> dict[str, RecordedAttempt]:
    async with db.transaction() as session:
        rows = (
            await session.execute(
                text(
                    "SELECT id, attempts, status, last_status_code, last_error, response_snippet"
                    " FROM webhook_deliveries WHERE account_id = :a AND action = 'poison.recorded'"
                ),
                {"a": account_id},
            )
        ).all()
    return {str(row[0]): RecordedAttempt(*row[1:]) for row in rows}


@contextlib.asynccontextmanager
async def running_poison_receiver(db: Database) -> AsyncIterator[tuple[PoisonReceiver, int]]:
    receiver = PoisonReceiver(db)
    server = await asyncio.start_server(receiver.handle, "127.0.0.1", 0)
    try:
        yield receiver, int(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 2)


async def test_a_poison_receiver_gets_each_attempt_recorded_and_the_limit_held(stack: Stack) -> None:
    tenant = await stack.tenant("poison", (Role.ADMIN, Role.SERVICE))
    db = Database(stack.database_url, pool_size=2)
    worker = stack.start_worker("poison", AUDITTRAIL_RETRY_SCHEDULE_SECONDS=RETRY_SCHEDULE)
    try:
        async with running_poison_receiver(db) as (receiver, port), httpx.AsyncClient(timeout=30) as client:
            webhook = {
                "enabled": True,
                "endpoint": f"http://127.0.0.1:{port}/hook",
                "secret": CANARY_WEBHOOK_SECRET,
                "retryOnFailure": True,
            }
            response = await stack.gql(client, SET_WEBHOOK, {"input": webhook}, token=tenant.tokens[Role.ADMIN])
            assert response.json() == {"data": {"auditTrailSetWebhook": {"enabled": True}}}
            events = [
                {
                    "action": "poison.recorded",
                    "actor": "poison::tester",
                    "eventType": "CREATE",
                    "affectedResource": {"resourceType": "POISON", "resourceId": str(n)},
                    "data": {"n": n},
                }
                for n in range(EVENTS)
            ]
            recorded = await stack.gql(client, RECORD, {"events": events}, token=tenant.tokens[Role.SERVICE])
            assert "errors" not in recorded.json(), recorded.text

            async def all_settled() -> bool:
                rows = await deliveries_of(db, tenant.account_id)
                return len(rows) == EVENTS and all(row.status != "PENDING" for row in rows.values())

            await poll(all_settled, timeout=60, what="every poisoned delivery to settle")
            final = await deliveries_of(db, tenant.account_id)
    finally:
        stop_process(worker)
        await db.dispose()

    assert set(receiver.attempts_seen) == set(final)
    for delivery_id, row in final.items():
        # The limit holds exactly: attempts 1..7, each once, and nothing after.
        assert receiver.attempts_seen[delivery_id] == list(range(1, MAX_ATTEMPTS + 1)), receiver.attempts_seen
        assert row.attempts == MAX_ATTEMPTS and row.status == "FAILED", row
        assert row.last_status_code is None and row.last_error and "RemoteProtocolError" in row.last_error, row
        for attempt, (poison, expected) in enumerate(POISONS[:-1], start=1):
            before = receiver.recorded_before[(delivery_id, attempt)]
            # Seen as attempt + 1 arrived: attempt + 1 claimed, attempt's outcome recorded, PENDING.
            assert before.attempts == attempt + 1 and before.status == "PENDING", (poison.__name__, before)
            if isinstance(expected, int):
                assert before.last_status_code == expected and before.last_error is None, (poison.__name__, before)
            else:
                assert before.last_status_code is None, (poison.__name__, before)
                assert before.last_error is not None and expected in before.last_error, (poison.__name__, before)
        first, second = receiver.recorded_before[(delivery_id, 1)], receiver.recorded_before[(delivery_id, 2)]
        assert first.response_snippet == "nul\ufffdin\ufffdthe body"
        assert second.response_snippet is not None and second.response_snippet.startswith("\ufffd\ufffd broken")
