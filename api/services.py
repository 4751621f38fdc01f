"""The long-lived things a process shares between requests: database, queue, webhook sender, keys."""

from __future__ import annotations

from dataclasses import dataclass

from arq.connections import ArqRedis

from api.accounts.identity_cache import IdentityCache
from api.accounts.login_guard import LoginGuard
from api.accounts.tokens import TokenSigner
from api.db import Database
from api.live import LiveFeed, LiveLimits
from api.settings import Settings
from api.webhooks import Resolver, RetryPolicy, Sender, connect_queue, resolve_addresses


@dataclass
class Services:
    """Built once when the app starts (``start``), closed when it stops."""

    settings: Settings
    db: Database
    queue: ArqRedis
    signing_key: str
    """Signs JWTs; webhook secrets at rest are encrypted with a key derived from it."""
    tokens: TokenSigner
    sender: Sender
    """Test and redeliver send like the worker, with the delivery timeout."""
    verify_sender: Sender
    """Verify-on-save: the same client with ``AUDITTRAIL_VERIFY_TIMEOUT_SECONDS``."""
    retry_policy: RetryPolicy
    login_guard: LoginGuard
    """Failed-login limits and reports, on the queue's Redis connection."""
    live: LiveFeed
    """The live tail's fan-out (its LISTEN connection opens with the first subscriber)."""
    identities: IdentityCache
    """Verified identities, kept while PostgreSQL notifies their changes (its LISTEN opens with the first request)."""

    @classmethod
    async def start(cls, settings: Settings, *, resolve: Resolver = resolve_addresses) -> Services:
        """The database pool, the queue (usable once Redis answers), the sender and the retry policy;
        ``resolve`` is how the sender asks DNS (the system's, or a test's)."""
        if not settings.database_url or not settings.redis_url:
            raise RuntimeError("DATABASE_URL and REDIS_URL must be set (the CLI sets them for embedded servers)")
        db = Database(settings.database_url, timeouts=settings.database_timeouts)
        await db.reads.warm()
        queue = await connect_queue(settings.redis_url)
        sender = Sender.from_settings(settings, resolve=resolve)
        signing_key = settings.resolved_secret_key()
        return cls(
            settings=settings,
            db=db,
            queue=queue,
            signing_key=signing_key,
            tokens=TokenSigner(signing_key, settings.jwt_lifetime_seconds),
            sender=sender,
            verify_sender=sender.with_timeout(settings.verify_timeout_seconds),
            retry_policy=RetryPolicy.from_settings(settings),
            login_guard=LoginGuard(queue, db, settings.login_limits),
            live=LiveFeed(db, settings.database_url, LiveLimits(buffer_events=settings.live_buffer_events)),
            identities=IdentityCache(settings.database_url),
        )

    async def close(self) -> None:
        """Close what ``start`` opened."""
        await self.live.close()
        await self.identities.close()
        await self.sender.aclose()  # verify_sender shares its client
        await self.queue.aclose()
        await self.db.dispose()
