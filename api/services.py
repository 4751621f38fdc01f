"""The long-lived things a process shares between requests: database, queue, HTTP client, keys."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from arq.connections import ArqRedis

from api.accounts.tokens import TokenSigner
from api.db import Database
from api.settings import Settings
from api.webhooks.queue import connect_queue


@dataclass
class Services:
    settings: Settings
    db: Database
    queue: ArqRedis
    http: httpx.AsyncClient
    signing_key: str
    tokens: TokenSigner

    @classmethod
    async def start(cls, settings: Settings) -> Services:
        if not settings.database_url or not settings.redis_url:
            raise RuntimeError("DATABASE_URL and REDIS_URL must be set (the CLI sets them for embedded servers)")
        db = Database(settings.database_url)
        queue = await connect_queue(settings.redis_url)
        http = httpx.AsyncClient(follow_redirects=False, timeout=settings.webhook_timeout_seconds)
        signing_key = settings.resolved_secret_key()
        return cls(
            settings=settings,
            db=db,
            queue=queue,
            http=http,
            signing_key=signing_key,
            tokens=TokenSigner(signing_key, settings.jwt_lifetime_seconds),
        )

    async def close(self) -> None:
        await self.http.aclose()
        await self.queue.aclose()
        await self.db.dispose()
