# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
# Both install exactly what uv.lock pins (uv itself is pinned below); `make lock` re-locks.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
UV_VERSION := 0.13.9
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
UV_STAMP := $(VENV)/.uv-$(UV_VERSION)
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev
# uv works in the venv made here from $(PYTHON); it never downloads a Python of its own.
export UV_PYTHON_DOWNLOADS := never
# Installed packages are compiled to bytecode once, at install: where PYTHONDONTWRITEBYTECODE is set
# (as in many CI images) every process would otherwise compile SQLAlchemy, strawberry, pydantic...
# from source as it imports them, about 3 s of CPU for each `audittrail` or test process started.
export UV_COMPILE_BYTECODE := 1
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: run listen test lint typecheck pytest bench soak schema lock clean

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "$(PYTHON) not found; set PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(UV_STAMP): $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	@touch $@

# --locked: a pyproject.toml changed without `make lock` stops here instead of resolving anew.
LOCK_HINT := (when uv says the lockfile needs to be updated: run make lock, and commit uv.lock)
# make run: the service and the embedded servers.  --inexact keeps what `make test` added.
$(RUN_STAMP): $(UV_STAMP) uv.lock pyproject.toml
	@echo "$(UV) sync --locked --inexact --extra embedded"
	@$(UV) sync --quiet --locked --inexact --extra embedded || { echo "$(LOCK_HINT)"; exit 1; }
	@touch $@

# make test: the same plus the dev tools (the dev extra includes embedded and s3), exactly the lock.
$(DEV_STAMP): $(UV_STAMP) uv.lock pyproject.toml
	@echo "$(UV) sync --locked --extra dev"
	@$(UV) sync --quiet --locked --extra dev || { echo "$(LOCK_HINT)"; exit 1; }
	@touch $@

# make run [PORT=8000] [HOST=127.0.0.1] [DATA_DIR=.audittrail]
run: $(RUN_STAMP)
	$(if $(DATA_DIR),AUDITTRAIL_DATA_DIR='$(DATA_DIR)' )$(BIN)/audittrail serve$(if $(HOST), --host '$(HOST)')$(if $(PORT), --port '$(PORT)')

# make listen SECRET=... [PORT=9000]: a local webhook receiver that prints each delivery.
listen: $(RUN_STAMP)
	@test -n '$(SECRET)' || { echo "make listen needs SECRET=<the webhook secret>"; exit 2; }
	$(BIN)/audittrail listen --secret '$(SECRET)'$(if $(PORT), --port '$(PORT)')$(if $(LISTEN_ARGS), $(LISTEN_ARGS))

lint: $(DEV_STAMP)
	$(BIN)/ruff check api workers receivers tests $(wildcard bench)
	$(BIN)/ruff format --check api workers receivers
	$(BIN)/lint-imports

typecheck: $(DEV_STAMP)
	$(BIN)/mypy --strict api workers receivers tests

# make test runs the suite on TEST_WORKERS pytest-xdist workers (each with its own embedded PostgreSQL
# and Redis); the tests that start processes of their own, and the browser tests, each keep to one
# worker (tests/conftest.py).  TEST_WORKERS=0 runs it in this process, one test after another.
TEST_WORKERS ?= 3

# The browser tests drive Debian's chromium (never a downloaded browser): install it when missing.
pytest: $(DEV_STAMP)
	@test -x /usr/bin/chromium || { if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium; else echo "note: /usr/bin/chromium is missing and we are not root: browser tests will be skipped (sudo apt-get install chromium)"; fi; }
	@# Our own modules too (the suite starts dozens of processes), whatever PYTHONDONTWRITEBYTECODE says.
	@$(BIN)/python -m compileall -q -j 0 api workers receivers tests
	$(BIN)/pytest -q -m "not soak" -n $(TEST_WORKERS) --durations=15

test: lint typecheck pytest

bench: $(DEV_STAMP)
	$(BIN)/python -m bench

soak: $(DEV_STAMP)
	$(BIN)/pytest -q -m soak

schema: $(RUN_STAMP)
	$(BIN)/audittrail export-schema

# Re-resolve uv.lock from pyproject.toml, keeping every pin that still fits; UPGRADE=1 takes the
# newest versions allowed instead.
lock: $(UV_STAMP)
	$(UV) lock $(if $(UPGRADE),--upgrade)

clean:
	rm -rf $(VENV) .audittrail
