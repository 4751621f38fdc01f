"""Test helpers: accounts, keys and tokens through the real domain functions and the real API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from api.accounts import accounts as account_store
from api.accounts import keys as key_store
from api.db import Database
from api.models import Role
from api.settings import Settings


@dataclass
class Key:
    id: str
    secret: str
    account_id: str
    account_name: str
    role: Role
    jwt: str = ""


class GraphQLResult:
    def __init__(self, response: httpx.Response) -> None:
        self.status_code = response.status_code
        self.json: dict[str, Any] = response.json()
        self.data: dict[str, Any] | None = self.json.get("data")
        self.errors: list[dict[str, Any]] = self.json.get("errors") or []

    @property
    def codes(self) -> list[str]:
        return [error.get("extensions", {}).get("code", "") for error in self.errors]

    def ok(self) -> dict[str, Any]:
        assert not self.errors, self.errors
        assert self.data is not None
        return self.data


class Api:
    """Drive the service as a client would, with factories for accounts and keys."""

    def __init__(self, client: httpx.AsyncClient, db: Database, settings: Settings) -> None:
        self.client = client
        self.db = db
        self.settings = settings

    async def gql(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> GraphQLResult:
        all_headers = dict(headers or {})
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        response = await self.client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=all_headers
        )
        return GraphQLResult(response)

    async def account(self, name: str = "acme") -> str:
        async with self.db.transaction() as session:
            found = await account_store.find_account(session, name)
            if found is not None:
                return found.id
            return (
                await account_store.create_account(session, name, retention_days=self.settings.default_retention_days)
            ).id

    async def key(self, account: str = "acme", role: Role = Role.ADMIN, *, login: bool = True) -> Key:
        account_id = await self.account(account)
        async with self.db.transaction() as session:
            created = await key_store.create_key(session, account_id, f"{role.value.lower()} key", role)
        key = Key(created.key.id, created.secret, account_id, account, role)
        if login:
            key.jwt = await self.login(key.id, key.secret)
        return key

    async def login(self, key_id: str, secret: str) -> str:
        result = await self.gql(
            "mutation($id: ID!, $secret: String!) { apiKeyUser(id: $id, secret: $secret) { jwt } }",
            {"id": key_id, "secret": secret},
        )
        return str(result.ok()["apiKeyUser"]["jwt"])
