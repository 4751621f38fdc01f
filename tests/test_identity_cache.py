"""Identities kept between requests: a second request of a token does not read its key again, and
a revoked key, a logged-out token or a changed account is seen at once all the same, whoever changed
it (this API, or SQL behind its back), even while a request is loading the old row or after the
LISTEN connection was killed."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg
import httpx
import jwt
import pytest

from api.accounts import accounts as account_store
from api.accounts import keys as key_store
from api.accounts.identity import Identity, identity_on
from api.accounts.identity_cache import LISTENER_NAME, IdentityCache, Load
from api.accounts.tokens import TokenClaims, TokenSigner
from api.app import create_app
from api.db import Database, raw_url
from api.errors import Unauthenticated
from api.models import ApiKey, Role, new_id
from api.settings import Settings
from tests.helpers import Api, Key
from tests.support.live_server import serving
from tests.support.polling import poll

VIEWER = "{ viewer { id } }"
RETENTION = "{ auditTrailRetentionDays }"
CREATE_KEY = 'mutation { apiKeyCreate(input: {name: "late", role: READER}) { id } }'
IDENTITY_TABLES = ("api_keys", "accounts", "revoked_tokens")
LISTENING = "SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND query ILIKE 'LISTEN%' AND state = 'idle'"
"""The service's identity LISTEN backends, once their LISTEN has run."""
NAMED = "SELECT pid FROM pg_stat_activity WHERE application_name = $1"


@dataclass
class Served:
    url: str
    api: Api


@pytest.fixture
async def served(settings: Settings, db: Database) -> AsyncIterator[Served]:
    """The app on real uvicorn: its identity cache and LISTEN connection are the ones deployed."""
    async with serving(create_app(settings)) as url, httpx.AsyncClient(base_url=url, timeout=60) as client:
        yield Served(url, Api(client, db, settings))


@pytest.fixture
async def pg(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    """A connection of the test's own: changes behind the service's back, and looks at its backends."""
    connection = await asyncpg.connect(raw_url(settings.database_url or ""))
    yield connection
    await connection.close()


async def listener_pids(pg: asyncpg.Connection) -> list[int]:
    return [row["pid"] for row in await pg.fetch(LISTENING, LISTENER_NAME)]


async def named_pids(pg: asyncpg.Connection) -> set[int]:
    """Every backend named as the cache's LISTEN connection, whatever it ran last."""
    return {row["pid"] for row in await pg.fetch(NAMED, LISTENER_NAME)}


async def cached(served: Served, pg: asyncpg.Connection, key: Key) -> None:
    """Make the service keep ``key``'s identity: a request starts its LISTEN, once it listens the
    next request's load is kept."""
    (await served.api.gql(VIEWER, token=key.jwt)).ok()

    async def is_listening() -> bool:
        return bool(await listener_pids(pg))

    await poll(is_listening, what="the identity cache's LISTEN connection")
    (await served.api.gql(VIEWER, token=key.jwt)).ok()


async def answered_without_reading_identities(
    served: Served,
    settings: Settings,
    key: Key,
    *,
    document: str = VIEWER,
    tables: tuple[str, ...] = IDENTITY_TABLES,
) -> bool:
    """Send ``document`` while another transaction holds ``tables`` (by default the key, account and
    logout tables the identity statement reads) locked against any read: True if it was answered
    anyway, False if it waited for the lock (then the lock is let go and the answer awaited)."""
    locker = await asyncpg.connect(raw_url(settings.database_url or ""))
    try:
        locking = locker.transaction()
        await locking.start()
        await locker.execute(f"LOCK TABLE {', '.join(tables)} IN ACCESS EXCLUSIVE MODE")
        request = asyncio.create_task(served.api.gql(document, token=key.jwt))
        waited = False

        async def settled() -> bool:
            nonlocal waited
            if request.done():
                return True
            waiting = await locker.fetchval(
                "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation::regclass::text = ANY($1::text[])",
                list(tables),
            )
            waited = int(waiting) > 0
            return waited

        await poll(settled, what="the request's answer or its wait for the identity tables")
        await locking.rollback()
        (await request).ok()
        return not waited
    finally:
        await locker.close()


@asynccontextmanager
async def notifications_held(pg: asyncpg.Connection) -> AsyncIterator[None]:
    """The service's LISTEN backend stopped (SIGSTOP): what commits meanwhile is not passed on to the
    service until the block ends, as if the notification were still on its way."""
    (listener,) = await listener_pids(pg)
    os.kill(listener, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(listener, signal.SIGCONT)


async def refused(served: Served, key: Key) -> bool:
    return (await served.api.gql(VIEWER, token=key.jwt)).codes == ["UNAUTHENTICATED"]


async def test_a_second_request_of_a_token_does_not_read_its_key_again(
    served: Served, pg: asyncpg.Connection, settings: Settings
) -> None:
    key = await served.api.key("acme", Role.READER)
    await cached(served, pg, key)
    assert await answered_without_reading_identities(served, settings, key)


async def test_a_token_not_yet_seen_is_checked_in_the_database(
    served: Served, pg: asyncpg.Connection, settings: Settings
) -> None:
    """The lock test above tells a kept identity from a read one: it sees the read when there is one."""
    key = await served.api.key("acme", Role.READER)
    other = await served.api.key("acme", Role.READER)
    await cached(served, pg, key)
    assert not await answered_without_reading_identities(served, settings, other)


async def test_a_key_revoked_through_the_api_is_refused_before_its_notification_arrives(
    served: Served, pg: asyncpg.Connection
) -> None:
    admin = await served.api.key("acme", Role.ADMIN)
    reader = await served.api.key("acme", Role.READER)
    await cached(served, pg, reader)
    async with notifications_held(pg):
        revoked = await served.api.gql(
            "mutation($id: ID!) { apiKeyDelete(id: $id) { id } }", {"id": reader.id}, token=admin.jwt
        )
        revoked.ok()
        assert await refused(served, reader)


async def test_a_key_revoked_behind_the_services_back_is_refused_once_notified(
    served: Served, pg: asyncpg.Connection
) -> None:
    reader = await served.api.key("acme", Role.READER)
    await cached(served, pg, reader)
    await pg.execute("UPDATE api_keys SET revoked_at = now() WHERE id = $1", reader.id)
    await poll(lambda: refused(served, reader), what="the revoked key refused")


async def test_a_token_logged_out_behind_the_services_back_is_refused_once_notified(
    served: Served, pg: asyncpg.Connection
) -> None:
    reader = await served.api.key("acme", Role.READER)
    other_token = await served.api.login(reader.id, reader.secret)
    await cached(served, pg, reader)
    claims = jwt.decode(reader.jwt, options={"verify_signature": False})
    await pg.execute(
        "INSERT INTO revoked_tokens (jti, key_id, revoked_at, expires_at) VALUES ($1, $2, now(), to_timestamp($3))",
        claims["jti"],
        reader.id,
        claims["exp"],
    )
    await poll(lambda: refused(served, reader), what="the logged-out token refused")
    # The key itself stays valid: its other token is still served.
    (await served.api.gql(VIEWER, token=other_token)).ok()


async def test_an_account_changed_behind_the_services_back_is_seen_once_notified(
    served: Served, pg: asyncpg.Connection
) -> None:
    reader = await served.api.key("acme", Role.READER)
    await cached(served, pg, reader)
    assert (await served.api.gql(RETENTION, token=reader.jwt)).ok()["auditTrailRetentionDays"] != 7
    await pg.execute("UPDATE accounts SET retention_days = 7 WHERE id = $1", reader.account_id)

    async def seen() -> bool:
        return bool((await served.api.gql(RETENTION, token=reader.jwt)).ok()["auditTrailRetentionDays"] == 7)

    await poll(seen, what="the new retention")


async def test_retention_changed_through_the_api_is_seen_before_its_notification_arrives(
    served: Served, pg: asyncpg.Connection
) -> None:
    admin = await served.api.key("acme", Role.ADMIN)
    await cached(served, pg, admin)
    async with notifications_held(pg):
        changed = await served.api.gql(
            "mutation { auditTrailSetRetention(days: 9) { retentionDays } }", token=admin.jwt
        )
        assert changed.ok()["auditTrailSetRetention"]["retentionDays"] == 9
        assert (await served.api.gql(RETENTION, token=admin.jwt)).ok()["auditTrailRetentionDays"] == 9


async def test_a_token_logged_out_through_the_api_is_refused_before_its_notification_arrives(
    served: Served, pg: asyncpg.Connection
) -> None:
    reader = await served.api.key("acme", Role.READER)
    await cached(served, pg, reader)
    async with notifications_held(pg):
        (await served.api.gql("mutation { logout { id } }", token=reader.jwt)).ok()
        assert await refused(served, reader)


async def test_a_killed_listener_means_every_request_is_checked_until_it_listens_again(
    served: Served, pg: asyncpg.Connection, settings: Settings
) -> None:
    reader = await served.api.key("acme", Role.READER)
    later = await served.api.key("acme", Role.READER)
    await cached(served, pg, reader)
    (killed,) = await listener_pids(pg)
    assert await pg.fetchval("SELECT pg_terminate_backend($1, 10000)", killed)
    # Nobody listens now: this revocation is never notified to the service.
    await pg.execute("UPDATE api_keys SET revoked_at = now() WHERE id = $1", reader.id)
    assert await refused(served, reader)

    async def listening_again() -> bool:
        (await served.api.gql(VIEWER, token=later.jwt)).ok()
        return bool(set(await listener_pids(pg)) - {killed})

    await poll(listening_again, what="a new LISTEN connection")
    (await served.api.gql(VIEWER, token=later.jwt)).ok()
    assert await answered_without_reading_identities(served, settings, later)


async def test_a_token_still_expires_while_its_identity_is_kept(
    served: Served, pg: asyncpg.Connection, db: Database, settings: Settings
) -> None:
    """The cache listens before the short-lived token is issued: waiting for its LISTEN connection
    on a loaded machine had taken longer than the token lived."""
    reader = await served.api.key("acme", Role.READER)
    await cached(served, pg, reader)
    async with db.transaction() as session:
        key_row = await session.get(ApiKey, reader.id)
    assert key_row is not None
    short_lived = TokenSigner(settings.resolved_secret_key(), lifetime_seconds=5).issue(key_row, audience=served.url)
    for _kept_on_the_first in range(2):
        (await served.api.gql(VIEWER, token=short_lived.jwt)).ok()
    reader.jwt = short_lived.jwt

    async def expired() -> bool:
        answer = await served.api.gql(VIEWER, token=reader.jwt)
        return answer.codes == ["UNAUTHENTICATED"] and "expired" in answer.errors[0]["message"]

    await poll(expired, what="the token's expiry")


async def test_a_mutation_of_a_key_revoked_behind_the_services_back_is_refused_once_notified(
    served: Served, pg: asyncpg.Connection
) -> None:
    """Mutations use the kept identity too, under the same rules: nothing is recorded for the key
    once the notification is in, and a refused mutation leaves no event.  The notification is
    known to be in when a query of the key is refused; a mutation sent before that may still pass
    (the window between the UPDATE's commit and its notification), so none is sent until then."""
    admin = await served.api.key("acme", Role.ADMIN)
    await cached(served, pg, admin)
    await pg.execute("UPDATE api_keys SET revoked_at = now() WHERE id = $1", admin.id)

    await poll(lambda: refused(served, admin), what="the revocation's notification")
    creations = "SELECT count(*) FROM audit_events WHERE action = 'api_key.create'"
    events_before = await pg.fetchval(creations)
    created = await served.api.gql(CREATE_KEY, token=admin.jwt)
    assert created.codes == ["UNAUTHENTICATED"]
    assert await pg.fetchval("SELECT count(*) FROM api_keys WHERE name = 'late'") == 0
    assert await pg.fetchval(creations) == events_before


async def test_a_mutation_of_a_kept_identity_does_not_read_its_key_again(
    served: Served, pg: asyncpg.Connection, settings: Settings
) -> None:
    admin = await served.api.key("acme", Role.ADMIN)
    await cached(served, pg, admin)
    # The key's INSERT reads the account (its foreign key), so only the logouts, which the identity
    # statement reads and this mutation does not, are locked.
    assert await answered_without_reading_identities(
        served, settings, admin, document=CREATE_KEY, tables=("revoked_tokens",)
    )
    # A new key changes no identity: the INSERT is not notified, the admin's identity is still kept.
    assert await answered_without_reading_identities(served, settings, admin)


async def test_only_changes_to_what_an_identity_holds_are_notified(
    served: Served, pg: asyncpg.Connection, settings: Settings
) -> None:
    """Migration 0012's triggers: a login (``last_used_at``) and a new key say nothing, a revocation
    does.  A notification sent last, after them, marks the point where everything before it was heard."""
    reader = await served.api.key("acme", Role.READER)
    listener = await asyncpg.connect(raw_url(settings.database_url or ""))
    heard: asyncio.Queue[str] = asyncio.Queue()
    await listener.add_listener("identities_changed", lambda *notified: heard.put_nowait(notified[3]))
    try:
        await served.api.login(reader.id, reader.secret)
        await served.api.key("acme", Role.READER, login=False)
        await pg.execute("UPDATE api_keys SET revoked_at = now() WHERE id = $1", reader.id)
        await pg.execute("SELECT pg_notify('identities_changed', 'the end')")
        assert await asyncio.wait_for(heard.get(), timeout=15) == "api_keys"
        assert await asyncio.wait_for(heard.get(), timeout=15) == "the end"
    finally:
        await listener.close()


# The cache itself, on the real database: the rules that the HTTP tests cannot pin to one moment.


async def new_claims(db: Database) -> TokenClaims:
    """A key of its own and a token's claims for it, as a verified token would give them."""
    async with db.transaction() as session:
        account = await account_store.find_account(session, "acme") or await account_store.create_account(
            session, "acme", retention_days=30
        )
        created = await key_store.create_key(session, account.id, "reader", Role.READER)
    return TokenClaims(
        key_id=created.key.id, account_id=account.id, token_id=new_id(), valid_until=int(time.time()) + 3600
    )


class CountedLoads:
    """The database check the API makes (``identity_on``), counted."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.count = 0

    async def __call__(self, claims: TokenClaims) -> Identity:
        self.count += 1
        async with self.db.reader() as reader:
            return await identity_on(reader, claims)


@pytest.fixture
async def cache(settings: Settings) -> AsyncIterator[IdentityCache]:
    started = IdentityCache(settings.database_url or "")
    yield started
    await started.close()


async def listening(cache: IdentityCache, claims: TokenClaims, load: Load) -> None:
    """Start the cache's LISTEN (the first lookup does) and wait until it listens."""
    await cache.lookup(claims, load)
    await poll(lambda: cache.is_listening, what="the cache listening")


async def test_an_identity_loaded_while_its_key_is_revoked_is_not_kept(
    cache: IdentityCache, db: Database, pg: asyncpg.Connection
) -> None:
    loads = CountedLoads(db)
    kept_before, claims = await new_claims(db), await new_claims(db)
    await listening(cache, kept_before, loads)
    await cache.lookup(kept_before, loads)
    assert len(cache) == 1

    async def load_then_revoke(claims: TokenClaims) -> Identity:
        """Reads the key still valid; the revocation commits and is heard before the load returns."""
        identity = await loads(claims)
        await pg.execute("UPDATE api_keys SET revoked_at = now() WHERE id = $1", claims.key_id)
        await poll(lambda: len(cache) == 0, what="the revocation's notification")
        return identity

    in_flight = await cache.lookup(claims, load_then_revoke)
    assert in_flight.key_id == claims.key_id  # that request began before the revocation
    assert len(cache) == 0
    with pytest.raises(Unauthenticated, match="revoked"):
        await cache.lookup(claims, loads)


async def test_a_dropped_listener_forgets_and_checks_every_lookup_until_it_listens_again(
    cache: IdentityCache, db: Database, pg: asyncpg.Connection
) -> None:
    loads = CountedLoads(db)
    claims = await new_claims(db)
    await listening(cache, claims, loads)
    await cache.lookup(claims, loads)
    loaded = loads.count
    await cache.lookup(claims, loads)
    assert loads.count == loaded  # kept

    (listener,) = await listener_pids(pg)
    assert await pg.fetchval("SELECT pg_terminate_backend($1, 10000)", listener)
    await poll(lambda: not cache.is_listening, what="the cache to see its connection dropped")
    assert len(cache) == 0
    await cache.lookup(claims, loads)  # not listening: it reads the database (and starts listening again)
    assert loads.count == loaded + 1
    # The LISTEN may be back already (a loaded machine's timing): only a lookup begun while it is not
    # shows that nothing was kept meanwhile.
    if not cache.is_listening:
        await cache.lookup(claims, loads)
        assert loads.count == loaded + 2

    await poll(lambda: cache.is_listening, what="the cache listening again")
    read = loads.count
    await cache.lookup(claims, loads)
    await cache.lookup(claims, loads)
    assert loads.count == read + 1  # read once, kept again


async def test_a_refusal_is_not_kept(cache: IdentityCache, db: Database, pg: asyncpg.Connection) -> None:
    loads = CountedLoads(db)
    claims = await new_claims(db)
    await listening(cache, claims, loads)
    forged = TokenClaims(key_id=claims.key_id, account_id="another", token_id=new_id(), valid_until=claims.valid_until)
    for _ in range(2):
        with pytest.raises(Unauthenticated):
            await cache.lookup(forged, loads)
    assert len(cache) == 0


async def test_the_least_recently_used_identity_goes_first(settings: Settings, db: Database) -> None:
    cache = IdentityCache(settings.database_url or "", capacity=2)
    try:
        loads = CountedLoads(db)
        first, second, third = await new_claims(db), await new_claims(db), await new_claims(db)
        await listening(cache, first, loads)
        for claims in (first, second, first, third):
            await cache.lookup(claims, loads)
        loaded = loads.count
        await cache.lookup(first, loads)
        await cache.lookup(third, loads)
        assert loads.count == loaded
        await cache.lookup(second, loads)
        assert loads.count == loaded + 1
    finally:
        await cache.close()


async def test_a_listener_that_stops_answering_is_dropped_and_every_lookup_checked(
    settings: Settings, db: Database, pg: asyncpg.Connection
) -> None:
    """A connection cut without a FIN or RST looks alive to asyncpg: its backend, stopped here, no
    longer answers the heartbeat, and the cache stops trusting it."""
    # Found by its name, not by ``LISTENING``: a heartbeat every 0.1 s makes ``SELECT 1`` its last query.
    named_before = await named_pids(pg)
    cache = IdentityCache(settings.database_url or "", heartbeat_seconds=0.1, heartbeat_timeout_seconds=0.3)
    try:
        loads = CountedLoads(db)
        claims = await new_claims(db)
        await listening(cache, claims, loads)
        await cache.lookup(claims, loads)
        assert len(cache) == 1
        (listener,) = await named_pids(pg) - named_before
        os.kill(listener, signal.SIGSTOP)
        try:
            await poll(lambda: not cache.is_listening, what="the heartbeat to drop the silent connection")
            assert len(cache) == 0
            loaded = loads.count
            await cache.lookup(claims, loads)
            assert loads.count == loaded + 1  # checked in the database, not served from memory
        finally:
            os.kill(listener, signal.SIGCONT)
    finally:
        await cache.close()
