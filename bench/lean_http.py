"""A bare HTTP/1.1 client, for the latency of requests too small for httpx to see.

httpx costs the read bench 1.4-1.9 ms of CPU a request, on the same two cores as the server: more
than a server's whole answer to ``{ viewer { id } }`` (0.3-0.6 ms), so a p50 taken with it cannot
go below about 2 ms for any server, the bare floor included.  This client sends a request built once
and reads the answer by its ``Content-Length`` (or its chunks) on one kept-alive connection: tens of
microseconds.  It sends nothing but what the request says; every system is measured with it alike.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit


def post_request(base_url: str, path: str, body: bytes, headers: Mapping[str, str]) -> bytes:
    """The bytes of a JSON POST of ``body`` to ``path``: built once, sent as many times as measured."""
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {urlsplit(base_url).netloc}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@dataclass
class LeanConnection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    @classmethod
    async def open(cls, base_url: str) -> LeanConnection:
        parts = urlsplit(base_url)
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        return cls(reader, writer)

    async def exchange(self, request: bytes) -> tuple[int, bytes]:
        """Send ``request``; the answer's status and body."""
        self.writer.write(request)
        status_line = await self.reader.readuntil(b"\r\n")
        status = int(status_line.split()[1])
        length, chunked = None, False
        while (line := await self.reader.readuntil(b"\r\n")) != b"\r\n":
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
        if chunked:
            return status, await self._chunks()
        if length is None:
            raise RuntimeError(f"an answer without a length ({status_line!r}): the connection cannot be kept")
        return status, await self.reader.readexactly(length)

    async def _chunks(self) -> bytes:
        body = bytearray()
        while size := int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16):
            body += await self.reader.readexactly(size)
            await self.reader.readuntil(b"\r\n")
        while await self.reader.readuntil(b"\r\n") != b"\r\n":  # trailers, if any
            pass
        return bytes(body)

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()
