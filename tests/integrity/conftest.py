"""The trail every integrity test tampers with: seeded events, digested, with a chain of two digests or
more, signed by the service's own key ring."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from api import integrity
from api.db import Database
from api.settings import Settings
from tests.integrity.support import Trail, digest_everything, digest_until, seed_trail


@pytest.fixture
def keys(settings: Settings) -> integrity.KeyRing:
    return integrity.KeyRing.from_settings(settings)


@pytest.fixture
async def trail(db: Database, keys: integrity.KeyRing) -> Trail:
    seeded = await seed_trail(db)
    await digest_everything(db, keys.signing_key)
    # At least one more interval, so that every test has a chain of two digests or more.
    await digest_until(db, keys.signing_key, datetime.now(UTC) + timedelta(seconds=1))
    return seeded
