"""Which addresses a webhook endpoint may reach (no SSRF): resolved once, each one judged.

The same guard answers at save time and when a delivery connects (``pinning``), so the address
that was judged is the address that is connected to: a DNS server that answers "public" to the
check and "private" to the connection (rebinding) gets one question per connection, not two.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from api.errors import BadInput

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]
"""Every address a host name stands for; the process's one way to ask DNS (a seam for tests)."""

# Cloud metadata services: refused like private addresses, named so the message is clear.
METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata", "instance-data"})

# IPv6 prefixes whose last 32 bits are an IPv4 address the packet ends up at.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
# RFC 8215's local-use NAT64 prefix may embed the IPv4 address at several offsets and translates
# to whatever the local network chooses: it has no public meaning, so it is never public.
_LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")


class UnresolvableHost(BadInput):
    """The endpoint's host has no address now: refused on save, retried at send time."""


class PrivateAddress(BadInput):
    """The endpoint's host is or resolves to an address that is not public: refused, never retried."""


def embedded_ipv4(address: IPAddress) -> list[tuple[str, ipaddress.IPv4Address]]:
    """The IPv4 addresses an IPv6 address carries to (6to4, NAT64, Teredo, IPv4-mapped or -compatible),
    each with the name of the form: a packet to the IPv6 address reaches them."""
    if isinstance(address, ipaddress.IPv4Address):
        return []
    if address.ipv4_mapped is not None:
        return [("IPv4-mapped", address.ipv4_mapped)]
    if address.sixtofour is not None:
        return [("6to4", address.sixtofour)]
    if address.teredo is not None:
        server, client = address.teredo  # the client address comes back un-inverted
        return [("Teredo server", server), ("Teredo client", client)]
    last_32_bits = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in _NAT64:
        return [("NAT64", last_32_bits)]
    if address in _IPV4_COMPATIBLE and int(address) > 1:  # :: and ::1 are themselves, not IPv4 carriers
        return [("IPv4-compatible", last_32_bits)]
    return []


def _is_public_itself(address: IPAddress) -> bool:
    return address.is_global and not (address.is_multicast or address.is_reserved or address.is_unspecified)


def non_public_reason(address: IPAddress) -> str | None:
    """Why ``address`` is not public (loopback, private, link-local such as cloud metadata, multicast,
    reserved, unspecified, or an IPv6 form carrying such an IPv4 address); None when it is public."""
    if isinstance(address, ipaddress.IPv6Address) and address in _LOCAL_NAT64:
        return f"{address}, a local-use NAT64 address"
    carried = embedded_ipv4(address)
    if carried:
        for form, ipv4 in carried:
            if not _is_public_itself(ipv4):
                return f"{address}, which carries {ipv4} ({form}), a private, loopback or link-local address"
        return None
    if not _is_public_itself(address):
        return f"{address}, a private, loopback or link-local address"
    return None


def is_public_address(address: IPAddress) -> bool:
    """True only for an address every network agrees is public, and that carries no private IPv4 one."""
    return non_public_reason(address) is None


async def resolve_addresses(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` stands for (itself when it is one); UnresolvableHost when DNS has none."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        raise UnresolvableHost(f"endpoint host {host!r} does not resolve") from None
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    return list(dict.fromkeys(addresses))  # one per address, in the resolver's order


@dataclass(frozen=True, kw_only=True)
class EndpointGuard:
    """The process's rule for endpoint addresses (``AUDITTRAIL_ALLOW_PRIVATE_ENDPOINTS``) and its resolver."""

    private_allowed: bool
    resolve: Resolver = resolve_addresses

    async def addresses_for(self, host: str, port: int) -> list[IPAddress]:
        """The addresses ``host`` may be reached at: all of them public unless private ones are allowed.

        One non-public address refuses the host (PrivateAddress): a name that also points inside
        the network is not an endpoint.  UnresolvableHost when DNS has no answer.
        """
        if not self.private_allowed and host.lower().rstrip(".") in METADATA_HOSTS:
            raise PrivateAddress(f"endpoint host {host!r} is a cloud metadata service; it is not allowed")
        addresses = await self.resolve(host, port)
        if not addresses:
            raise UnresolvableHost(f"endpoint host {host!r} does not resolve")
        if not self.private_allowed:
            for address in addresses:
                reason = non_public_reason(address)
                if reason is not None:
                    raise PrivateAddress(
                        f"endpoint host {host!r} resolves to {reason}; only public addresses are allowed"
                        " (setting AUDITTRAIL_ALLOW_PRIVATE_ENDPOINTS)"
                    )
        return addresses
