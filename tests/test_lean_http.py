"""The read bench's bare HTTP client (``bench/lean_http.py``) reads what servers send: a body by its
length, a chunked one, several answers on one connection, and refuses an answer it cannot delimit."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from bench.lean_http import LeanConnection, post_request

ANSWERS = {
    b"/length": b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"data":{}}',
    b"/chunked": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'4\r\n{"da\r\n7;ext=1\r\nta":{}}\r\n0\r\nX-Trailer: 1\r\n\r\n'
    ),
    b"/no-length": b"HTTP/1.1 500 Internal Server Error\r\nConnection: close\r\n\r\nboom",
}


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, list[bytes]]]:
    """A server on 127.0.0.1 answering each path its canned answer; what it received, request by request."""
    received: list[bytes] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):  # the client gone
            await answer_each(reader, writer)

    async def answer_each(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while head := await reader.readuntil(b"\r\n\r\n"):
            length = next(
                int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
            )
            received.append(head + await reader.readexactly(length))
            writer.write(ANSWERS[head.split(b" ")[1]])
            await writer.drain()

    listening = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}", received
    listening.close()


async def test_answers_by_length_and_by_chunks_on_one_connection(server: tuple[str, list[bytes]]) -> None:
    base_url, received = server
    connection = await LeanConnection.open(base_url)
    try:
        for path in ("/length", "/chunked", "/length"):
            request = post_request(base_url, path, b'{"query":"{ viewer { id } }"}', {"Authorization": "Bearer t"})
            assert await connection.exchange(request) == (200, b'{"data":{}}')
    finally:
        await connection.close()
    host = base_url.removeprefix("http://")
    assert (
        received[0]
        == (
            f"POST /length HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: 29\r\n"
            'Authorization: Bearer t\r\n\r\n{"query":"{ viewer { id } }"}'
        ).encode()
    )
    assert len(received) == 3


async def test_an_answer_without_a_length_is_refused(server: tuple[str, list[bytes]]) -> None:
    base_url, _ = server
    connection = await LeanConnection.open(base_url)
    try:
        with pytest.raises(RuntimeError, match="without a length"):
            await connection.exchange(post_request(base_url, "/no-length", b"{}", {}))
    finally:
        await connection.close()
