# clinic-router: the commands the README names.
#   make demo   sandbox Asterisk + router + scripted SIPp calls, one line per call
#   make test   the whole suite, real-Asterisk tier included (installs what it needs)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: deps venv sandbox sandbox-down test unit demo bench check lint clean

deps:
	@bash sip_test_harness/install-deps.sh

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

venv: deps $(STAMP)

sandbox: venv
	$(PY) -m sip_test_harness sandbox up

sandbox-down: venv
	$(PY) -m sip_test_harness sandbox down

test: venv
	$(PY) -m sip_test_harness sandbox build
	$(PY) -m pytest $(PYTEST_ARGS)

unit: venv
	$(PY) -m pytest -m "not asterisk" $(PYTEST_ARGS)

demo: venv
	$(PY) -m sip_test_harness demo

bench: venv
	$(PY) -m sip_test_harness bench

check: venv
	$(VENV)/bin/clinic-router check config/router.yaml

lint: venv
	$(VENV)/bin/ruff check router sip_test_harness tests
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
