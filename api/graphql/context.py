"""Per-request context: the caller's identity, network facts and the request's read transaction."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from functools import cached_property, partial

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.util import LRUCache
from starlette.requests import HTTPConnection
from strawberry.types import Info

from api.accounts.identity import Identity, identity_from_token, identity_on
from api.accounts.tokens import TokenClaims
from api.errors import Unauthenticated
from api.models import Role, new_id
from api.raw_reads import BROKEN, RawReader, discard
from api.services import Services


def client_ip(request: HTTPConnection, trusted_proxies: list[str]) -> str | None:
    """The caller's address; ``X-Forwarded-For`` counts only when the peer is a trusted proxy."""
    peer = request.client.host if request.client else None
    if peer is None or not trusted_proxies:
        return peer
    networks = [ipaddress.ip_network(proxy, strict=False) for proxy in trusted_proxies]

    def is_trusted(address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in networks)

    if not is_trusted(peer):
        return peer
    forwarded = [hop.strip() for hop in request.headers.get("x-forwarded-for", "").split(",") if hop.strip()]
    # Walk from the nearest hop back; the first address not ours is the client.
    for hop in reversed(forwarded):
        if not is_trusted(hop):
            return hop
    return forwarded[0] if forwarded else peer


_BASE_URLS: LRUCache[tuple[object, ...], str] = LRUCache(64)
"""Base URLs by what they are made of; a client sending many Host headers only turns the cache over."""


def base_url(request: HTTPConnection) -> str:
    """``http(s)://host[:port]`` as the request reached us, as starlette's ``request.url`` has it.

    Every authenticated request needs it (a token's ``aud``), and building ``request.url`` (the whole
    URL, then split again) was a tenth of the CPU of a ``{ viewer { id } }`` request.  It depends only on
    the scheme, the Host header and the server address, so it is worked out once for each of those.
    """
    scope = request.scope
    host = next((value for name, value in scope["headers"] if name == b"host"), None)
    server = scope.get("server")  # an iterable by the ASGI spec (uvicorn's is a tuple): kept as a tuple
    key = (scope.get("scheme", "http"), host, None if server is None else tuple(server))
    known = _BASE_URLS.get(key)
    if known is not None:
        return known
    url = request.url
    # A websocket reaches the same base URL as ws(s)://; its tokens were issued for http(s)://.
    scheme = {"ws": "http", "wss": "https"}.get(url.scheme, url.scheme)
    made = _BASE_URLS[key] = f"{scheme}://{url.netloc}"
    return made


class RequestContext:
    """What one GraphQL request shares between its fields.

    The hot reads (the identity check, the search, an entry, the suggestions) run on one pooled
    asyncpg connection per request, outside any transaction (``raw_reading``); the other query
    fields share one read transaction.  Each is opened on first use and closed when the operation
    ends (``end_request_scope``).  graphql-core resolves sibling fields concurrently, so each is handed
    out one field at a time.
    """

    def __init__(self, request: HTTPConnection, services: Services) -> None:
        self.request = request
        self.connection_params: dict[str, object] | None = None
        """A websocket's ``connection_init`` payload (strawberry sets it): where its token travels."""
        self.services = services
        self._identity: Identity | None = None
        self._read_scope = AsyncExitStack()
        self._read_session: AsyncSession | None = None
        self._read_lock = asyncio.Lock()
        self._raw_reader: RawReader | None = None
        self._raw_lock = asyncio.Lock()

    @cached_property
    def request_id(self) -> str:
        """The client's ``X-Request-Id`` (64 characters at most) or a new ULID: made when first read
        (an error's message, an audited mutation), not for every read that never shows it."""
        return (self.request.headers.get("x-request-id") or new_id())[:64]

    @cached_property
    def remote_ip(self) -> str | None:
        return client_ip(self.request, self.services.settings.trusted_proxies)

    @property
    def user_agent(self) -> str | None:
        return self.request.headers.get("user-agent")

    @cached_property
    def audience(self) -> str:
        """The API's base URL as clients reach it: tokens are issued for it and accepted only at it."""
        configured = self.services.settings.public_url
        return configured.rstrip("/") if configured else base_url(self.request)

    @property
    def bearer_token(self) -> str:
        """The token of the ``Authorization`` header (for a websocket, of its ``connection_init``
        payload), or UNAUTHENTICATED."""
        if self.connection_params is not None:
            given = self.connection_params.get("Authorization", self.connection_params.get("authorization"))
            authorization = given if isinstance(given, str) else ""
        else:
            authorization = self.request.headers.get("authorization", "")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("unauthorized: missing bearer token; get one with the apiKeyUser mutation")
        return token.strip()

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncSession]:
        """The request's read transaction, for one field at a time."""
        async with self._read_lock:
            if self._read_session is None:
                self._read_session = await self._read_scope.enter_async_context(self.services.db.transaction())
            yield self._read_session

    @asynccontextmanager
    async def raw_reading(self) -> AsyncIterator[RawReader]:
        """The request's asyncpg connection for single-statement reads, for one field at a time."""
        async with self._raw_lock:
            if self._raw_reader is None:
                self._raw_reader = await self._read_scope.enter_async_context(self.services.db.reader())
            try:
                yield self._raw_reader
            except BROKEN:
                # The connection is given back only when the operation ends: close it now, so that giving
                # it back does not wait for a frozen server to confirm the cancel of a timed-out statement.
                discard(self._raw_reader.connection)
                self._raw_reader = None
                raise

    async def close(self) -> None:
        """End the read transaction and give the raw connection back, if they were opened."""
        self._read_session = None
        self._raw_reader = None
        await self._read_scope.aclose()

    async def identity(self, session: AsyncSession | None = None) -> Identity:
        """The verified caller, or UNAUTHENTICATED: kept between requests while the database notifies
        changes (``IdentityCache``), otherwise read in ``session`` when a unit of work is open, else on
        the request's asyncpg connection."""
        if self._identity is None:
            claims = self.services.tokens.decode(self.bearer_token, audience=self.audience)
            load = partial(identity_from_token, session) if session is not None else self._load_identity
            self._identity = await self.services.identities.lookup(claims, load)
        return self._identity

    async def _load_identity(self, claims: TokenClaims) -> Identity:
        async with self.raw_reading() as reader:
            return await identity_on(reader, claims)

    async def require(self, *roles: Role) -> Identity:
        """The caller if its role is one of ``roles``; UNAUTHENTICATED or FORBIDDEN otherwise."""
        return (await self.identity()).require(*roles)


AppInfo = Info[RequestContext, None]
