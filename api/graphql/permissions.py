"""Who may call a field, declared on the field: ``permission_classes=[AdminOnly]``.

The check raises our own UNAUTHENTICATED/FORBIDDEN errors (with messages that say which role
is needed), so strawberry's generic permission message never reaches a client.
"""

from __future__ import annotations

from typing import Any, ClassVar

from strawberry.permission import BasePermission

from api.graphql.context import AppInfo
from api.models import Role

ADMIN_ONLY = (Role.ADMIN,)
READ_ROLES = (Role.ADMIN, Role.READER)
INGEST_ROLES = (Role.SERVICE, Role.ADMIN)
ANY_ROLE = tuple(Role)


class HasRole(BasePermission):
    """The caller's key must have one of ``roles``."""

    roles: ClassVar[tuple[Role, ...]] = ()

    async def has_permission(self, source: Any, info: AppInfo, **kwargs: Any) -> bool:
        await info.context.require(*self.roles)
        return True


class AdminOnly(HasRole):
    roles = ADMIN_ONLY


class Readers(HasRole):
    roles = READ_ROLES


class Ingestors(HasRole):
    roles = INGEST_ROLES


class AnyKey(HasRole):
    roles = ANY_ROLE
