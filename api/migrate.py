"""Apply the Alembic migrations shipped inside the package (no alembic.ini needed at run time)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def upgrade_database(database_url: str, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (the newest by default); a no-op when it already is.

    Synchronous (Alembic drives its own event loop): from async code call it in a thread.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    command.upgrade(config, revision)
