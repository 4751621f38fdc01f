"""Separate PostgreSQL and Redis servers (Debian's packages) for the scale-out suite, one pair per run."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from api.migrate import upgrade_database
from tests.scaleout.servers import DebianPostgres, DebianRedis, install_or_explain


@pytest.fixture(scope="package")
def separate_servers() -> Iterator[tuple[DebianPostgres, DebianRedis]]:
    """PostgreSQL and Redis on 127.0.0.1 ports, migrated, as ``audittrail serve`` would leave them."""
    why_not = install_or_explain()
    if why_not is not None:
        pytest.skip(why_not)
    postgres = DebianPostgres.start()
    try:
        redis = DebianRedis.start()
    except Exception:
        postgres.stop()
        raise
    try:
        upgrade_database(postgres.url)
        yield postgres, redis
    finally:
        redis.stop()
        postgres.stop()
