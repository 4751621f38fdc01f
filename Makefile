# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck pytest bench soak schema clean

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "$(PYTHON) not found; set PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/audittrail serve

lint: $(STAMP)
	$(BIN)/ruff check api workers receivers tests $(wildcard bench)
	$(BIN)/ruff format --check api workers receivers

typecheck: $(STAMP)
	$(BIN)/mypy --strict api workers receivers

# The browser tests drive Debian's chromium (never a downloaded browser): install it when missing.
pytest: $(STAMP)
	@test -x /usr/bin/chromium || { if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium; else echo "note: /usr/bin/chromium is missing and we are not root: browser tests will be skipped (sudo apt-get install chromium)"; fi; }
	$(BIN)/pytest -q -m "not soak"

test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/python -m bench

soak: $(STAMP)
	$(BIN)/pytest -q -m soak

schema: $(STAMP)
	$(BIN)/audittrail export-schema

clean:
	rm -rf $(VENV) .audittrail
