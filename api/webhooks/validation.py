"""What a webhook may be set to: endpoint (no SSRF), secret, custom headers.  Every refusal is BAD_USER_INPUT."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from api.errors import BadInput
from api.webhooks.addresses import EndpointGuard

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


async def validate_endpoint(endpoint: str, guard: EndpointGuard) -> str:
    """The endpoint, checked for shape and, unless private targets are allowed, for where it points
    (the guard's judgement again when a delivery connects: DNS may change meanwhile)."""
    parsed = parse_endpoint(endpoint)
    if not guard.private_allowed:
        await guard.addresses_for(parsed.host, parsed.port)
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
