"""Connections that go only to the addresses the endpoint guard judged (DNS rebinding).

httpx would resolve the endpoint's host again when it connects, after our check: a rebinding DNS
server answers the check with a public address and the connection with a private one.  Here the
resolution happens once, inside the connect: the guard resolves and judges, and the socket is
opened to one of exactly those addresses.  The URL keeps the host name, so the Host header, the
TLS server name (SNI), certificate verification and the pool's key are all the name's.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable

import httpcore
import httpx

from api.webhooks.addresses import EndpointGuard


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend with the guard's resolution in place of the system's."""

    def __init__(self, guard: EndpointGuard) -> None:
        self._guard = guard
        self._network = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface: the connect phase's timeout)
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """A socket to the first of the guard's addresses that accepts; the guard's refusal as raised."""
        addresses = await self._guard.addresses_for(host, port)
        failures: list[httpcore.ConnectError | httpcore.ConnectTimeout] = []
        for address in addresses:
            try:
                return await self._network.connect_tcp(
                    str(address), port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as failure:
                failures.append(failure)
        tried = ", ".join(str(address) for address in addresses)
        # The type of the last failure says whether it timed out; the message names where it went.
        raise type(failures[-1])(f"{host} at {tried}: {failures[-1]}") from failures[-1]

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Never: an endpoint is an http(s) URL, not a socket path."""
        raise httpcore.ConnectError("webhook endpoints are reached over TCP only")

    async def sleep(self, seconds: float) -> None:
        await self._network.sleep(seconds)


class PinnedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport over a connection pool whose connections are the guard's (``PinnedBackend``)."""

    def __init__(self, guard: EndpointGuard, *, ssl_context: ssl.SSLContext, limits: httpx.Limits) -> None:
        super().__init__(verify=ssl_context, limits=limits)
        # httpx 0.28 takes no network backend: the pool built above is replaced by the same pool with ours.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=PinnedBackend(guard),
        )
