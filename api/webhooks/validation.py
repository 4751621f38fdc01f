"""What a webhook may be set to: endpoint (no SSRF), secret, custom headers.  Every refusal is BAD_USER_INPUT."""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from api.errors import BadInput

MAX_ENDPOINT_LENGTH = 2048
MAX_SECRET_LENGTH = 256
MAX_CUSTOM_HEADERS = 20
MAX_HEADER_NAME_LENGTH = 256
MAX_HEADER_VALUE_LENGTH = 8192

# RFC 9110 token characters.
_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
# Control characters other than horizontal tab end or split a header line.
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")

# Headers that we set on every delivery (signing.sign_delivery) or that belong to the connection, not the message.
RESERVED_HEADERS = frozenset(
    {
        "content-type",
        "user-agent",
        "host",
        "content-length",
        "x-signature",
        "x-signature-256",
        "x-audit-event-id",
        "x-audit-delivery-id",
        "x-audit-attempt",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
    }
)
HOP_BY_HOP_HEADERS = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
# Cloud metadata services: refused like private addresses, named so the message is clear.
METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata", "instance-data"})


class UnresolvableHost(BadInput):
    """The endpoint's host has no address now: refused on save, retried at send time."""


@dataclass(frozen=True)
class Endpoint:
    url: str
    host: str
    port: int


def parse_endpoint(endpoint: str) -> Endpoint:
    """The endpoint if it is an absolute http(s) URL of at most 2048 characters, without credentials."""
    shown = endpoint if len(endpoint) <= 80 else endpoint[:80] + "…"
    problem = (
        f"endpoint must be a valid URL: an absolute http(s) URL of at most {MAX_ENDPOINT_LENGTH} characters,"
        f" got {shown!r}"
    )
    if len(endpoint) > MAX_ENDPOINT_LENGTH or endpoint != endpoint.strip() or _CONTROL_CHARACTERS.search(endpoint):
        raise BadInput(problem)
    try:
        parts = urlsplit(endpoint)
        port = parts.port
    except ValueError:
        raise BadInput(problem) from None
    if parts.scheme not in ("http", "https") or not parts.hostname or " " in endpoint:
        raise BadInput(problem)
    if parts.username is not None or parts.password is not None:
        # The endpoint is shown in queries and audit payloads; credentials belong in a custom header.
        raise BadInput(
            "endpoint must be a valid URL without credentials (user:password@); send them in a custom header"
        )
    default_port = 443 if parts.scheme == "https" else 80
    return Endpoint(url=endpoint, host=parts.hostname, port=port or default_port)


def origin_of(endpoint: str) -> tuple[str, str, int]:
    """(scheme, host, port) with the scheme's default port filled in: what custom headers are bound to."""
    parsed = parse_endpoint(endpoint)
    return urlsplit(endpoint).scheme, parsed.host.lower(), parsed.port


def is_public_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """False for loopback, private, link-local (cloud metadata), multicast, reserved and unspecified."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not (address.is_multicast or address.is_reserved or address.is_unspecified)


async def resolve_addresses(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """Every address ``host`` stands for (itself when it is one); UnresolvableHost when DNS has none."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        raise UnresolvableHost(f"endpoint host {host!r} does not resolve") from None
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


async def check_endpoint_is_public(endpoint: Endpoint) -> None:
    """Refuse an endpoint whose host is or resolves to a non-public address (SSRF)."""
    if endpoint.host.lower().rstrip(".") in METADATA_HOSTS:
        raise BadInput(f"endpoint host {endpoint.host!r} is a cloud metadata service; it is not allowed")
    for address in await resolve_addresses(endpoint.host, endpoint.port):
        if not is_public_address(address):
            raise BadInput(
                f"endpoint host {endpoint.host!r} resolves to {address}, a private, loopback or link-local"
                " address; only public addresses are allowed (setting AUDITTRAIL_ALLOW_PRIVATE_ENDPOINTS)"
            )


async def validate_endpoint(endpoint: str, *, private_allowed: bool) -> str:
    """The endpoint, checked for shape and, unless private targets are allowed, for where it points."""
    parsed = parse_endpoint(endpoint)
    if not private_allowed:
        await check_endpoint_is_public(parsed)
    return parsed.url


def validate_secret(secret: str) -> str:
    """The secret if it is 1-256 characters."""
    if not 1 <= len(secret) <= MAX_SECRET_LENGTH:
        raise BadInput(f"secret must be 1-{MAX_SECRET_LENGTH} characters, got {len(secret)}")
    return secret


def validate_custom_headers(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Custom headers that cannot break the request or impersonate our own headers.  Values never appear
    in messages: they may be credentials."""
    if len(headers) > MAX_CUSTOM_HEADERS:
        raise BadInput(f"at most {MAX_CUSTOM_HEADERS} custom headers are allowed, got {len(headers)}")
    seen: set[str] = set()
    for name, value in headers:
        lowered = name.lower()
        if not _HEADER_NAME.match(name) or len(name) > MAX_HEADER_NAME_LENGTH:
            shown = name[:40]
            raise BadInput(
                f"custom header name {shown!r} is not a valid header token"
                f" (1-{MAX_HEADER_NAME_LENGTH} letters, digits or !#$%&'*+-.^_`|~)"
            )
        if lowered in RESERVED_HEADERS or lowered.startswith("x-audit-"):
            raise BadInput(f"custom header {name!r} would override a header every delivery sets; choose another name")
        if lowered in HOP_BY_HOP_HEADERS:
            raise BadInput(f"custom header {name!r} is a hop-by-hop header and cannot be set")
        if lowered in seen:
            raise BadInput(f"custom header {name!r} is given twice; give each header once")
        seen.add(lowered)
        if _CONTROL_CHARACTERS.search(value) or not value.isascii() or len(value) > MAX_HEADER_VALUE_LENGTH:
            raise BadInput(
                f"the value of custom header {name!r} must be at most {MAX_HEADER_VALUE_LENGTH} ASCII characters"
                " without CR, LF or other control characters (encode other text, e.g. percent-encoding)"
            )
    return headers
