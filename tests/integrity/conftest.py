"""The trail every integrity test tampers with: seeded events, digested, with a chain of two digests or
more, signed by the service's own key ring."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from api import integrity
from api.db import Database
from api.settings import Settings
from tests.integrity.support import Trail, digest_everything, seed_trail


@pytest.fixture
def keys(settings: Settings) -> integrity.KeyRing:
    return integrity.KeyRing.from_settings(settings)


@pytest.fixture
async def trail(db: Database, keys: integrity.KeyRing) -> Trail:
    seeded = await seed_trail(db)
    await digest_everything(db, keys.signing_key)
    async with db.transaction() as session:
        digests = (await session.execute(text("SELECT count(*) FROM audit_digests"))).scalar_one()
    # Events recorded RECORDED_SECONDS_AGO: their interval and the next are closed and digested.
    assert digests >= 2, "every integrity test starts with a chain of two digests or more"
    return seeded
