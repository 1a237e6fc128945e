# The two commands of the README: `make run` and `make test`. Everything else is a step of them.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip

.PHONY: run test check install install-test lint migrations unit integration conformance browser screenshots services system bench-listing

run: install
	$(PY) manage.py serve

test: install-test services system lint migrations unit integration conformance browser

# The fast loop while working: no root, no services, no browser.
check: lint unit

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# torch comes from the local CPU wheel (pip's find-links); it only exports the model once.
install: $(VENV)/bin/python
	$(PIP) install --quiet -e .
	$(PY) manage.py engine_model

install-test: $(VENV)/bin/python
	$(PIP) install --quiet -e '.[test]'
	$(PY) manage.py engine_model

services:
	bash scripts/services

# Debian packages the tests use: photographs, Chromium and its driver, fonts for CJK pages.
system:
	bash scripts/system

lint:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .
	$(VENV)/bin/lint-imports --no-cache

# Every model change has its migration.
migrations:
	$(PY) manage.py makemigrations --check --dry-run

unit:
	TUKU_REQUIRE_PHOTOS=1 $(PY) -m pytest tests/unit -q

# PostgreSQL, Redis, workers and an S3 server for real; a data directory of its own.
IT_DATA := $(CURDIR)/.cache/it-data
integration:
	rm -rf $(IT_DATA) && mkdir -p $(IT_DATA)
	DATABASE_URL=postgres://postgres@127.0.0.1:5432/tuku REDIS_URL=redis://127.0.0.1:6379/7 \
	TUKU_DATA_DIR=$(IT_DATA) TUKU_ENGINE_URL=http://127.0.0.1:8765 \
	$(PY) -m pytest tests/integration -m integration -q

browser:
	$(PY) -m pytest tests/browser -m browser -q

screenshots:
	TUKU_SCREENSHOTS=$(CURDIR)/docs/screenshots $(PY) -m pytest tests/browser -m browser -q

bench-listing:
	$(PY) bench/listing.py

# The Python SDK comes with `.[test]`; the Node.js one from npm, at the version the lock pins.
conformance:
	npm ci --prefix tests/conformance/node --omit=optional --no-audit --no-fund --loglevel=error
	TUKU_REQUIRE_PHOTOS=1 $(PY) -m pytest tests/conformance -m conformance -q
