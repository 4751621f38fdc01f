"""A TCP front for the embedded PostgreSQL that can freeze: while frozen it holds every byte both ways
and answers no new connection, as a SIGSTOPped server or a dead link does, without stopping the
server other tests share.  Thawed, it passes on what it held."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from api.db import raw_url


@dataclass
class FrozenLink:
    socket_path: str
    """PostgreSQL's own unix socket, which the link connects each client to."""
    dsn: str = ""
    """The link's address in the database URL given, for clients to connect to."""
    _thawed: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _writers: list[asyncio.StreamWriter] = field(default_factory=list)

    def freeze(self) -> None:
        self._thawed.clear()

    def thaw(self) -> None:
        self._thawed.set()

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self._writers.append(client_writer)
        await self._thawed.wait()
        server_reader, server_writer = await asyncio.open_unix_connection(self.socket_path)
        self._writers.append(server_writer)
        for pipe in (self._pipe(client_reader, server_writer), self._pipe(server_reader, client_writer)):
            task = asyncio.create_task(pipe)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                await self._thawed.wait()
                writer.write(data)
                await writer.drain()
        writer.close()

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for writer in self._writers:
            writer.close()


@asynccontextmanager
async def frozen_link(database_url: str) -> AsyncIterator[FrozenLink]:
    """A link to the server of ``database_url`` on 127.0.0.1, thawed to start with."""
    admin = await asyncpg.connect(raw_url(database_url))
    try:
        directory = (await admin.fetchval("SHOW unix_socket_directories")).split(",")[0].strip()
        port = await admin.fetchval("SHOW port")
    finally:
        await admin.close()
    link = FrozenLink(f"{directory}/.s.PGSQL.{port}")
    link.thaw()
    server = await asyncio.start_server(link._serve, "127.0.0.1", 0)
    listening = server.sockets[0].getsockname()[1]
    parts = urlsplit(raw_url(database_url))
    credentials = parts.netloc.rpartition("@")[0] or "postgres"
    link.dsn = urlunsplit(parts._replace(netloc=f"{credentials}@127.0.0.1:{listening}", query=""))
    try:
        yield link
    finally:
        link.thaw()
        server.close()
        await link.close()
