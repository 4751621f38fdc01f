"""Per-request context: the caller's identity, network facts and the open unit of work."""

from __future__ import annotations

import ipaddress
from functools import cached_property

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from strawberry.types import Info

from api.accounts.identity import Identity, identity_from_token
from api.audit.scope import AuditScope
from api.errors import Unauthenticated
from api.models import Role
from api.services import Services


def client_ip(request: Request, trusted_proxies: list[str]) -> str | None:
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


class RequestContext:
    def __init__(self, request: Request, services: Services, request_id: str) -> None:
        self.request = request
        self.services = services
        self.request_id = request_id
        self._identity: Identity | None = None
        self._session: AsyncSession | None = None
        self._audit: AuditScope | None = None

    @cached_property
    def remote_ip(self) -> str | None:
        return client_ip(self.request, self.services.settings.trusted_proxies)

    @property
    def user_agent(self) -> str | None:
        return self.request.headers.get("user-agent")

    async def identity(self) -> Identity:
        """The verified caller, or UNAUTHENTICATED."""
        if self._identity is None:
            header = self.request.headers.get("authorization", "")
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise Unauthenticated("missing bearer token; get one with the apiKeyUser mutation")
            if self._session is not None:  # inside an audited mutation: its transaction will do
                self._identity = await identity_from_token(self._session, token.strip(), self.services.signing_key)
            else:
                async with self.services.db.transaction() as session:
                    self._identity = await identity_from_token(session, token.strip(), self.services.signing_key)
        return self._identity

    async def require(self, *roles: Role) -> Identity:
        return (await self.identity()).require(*roles)

    @property
    def session(self) -> AsyncSession:
        """The session of the audited mutation running now."""
        if self._session is None:
            raise RuntimeError("no unit of work is open: only audited mutations write")
        return self._session

    @property
    def audit(self) -> AuditScope:
        if self._audit is None:
            raise RuntimeError("not inside an audited mutation")
        return self._audit

    def open_unit(self, session: AsyncSession, scope: AuditScope) -> None:
        self._session, self._audit = session, scope

    def close_unit(self) -> None:
        self._session, self._audit = None, None


AppInfo = Info[RequestContext, None]
