# The two commands of the README: `make run` and `make test`. Everything else is a step of them.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip

.PHONY: run test install install-test lint unit integration conformance services photos

run: install
	$(PY) manage.py serve

test: install-test services photos lint unit integration conformance

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

photos:
	bash scripts/photos

lint:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .

unit:
	TUKU_REQUIRE_PHOTOS=1 $(PY) -m pytest tests/unit -q

integration:
	$(PY) -m pytest tests/integration -m integration -q

conformance:
	TUKU_REQUIRE_PHOTOS=1 $(PY) -m pytest tests/conformance -m conformance -q
