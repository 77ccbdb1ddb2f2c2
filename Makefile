# clinic-router: the commands the README names.
#   make demo   sandbox Asterisk + router + scripted SIPp calls, one line per call
#   make test   the whole suite, real-Asterisk tier included (installs what it needs)
#   make lock   re-pin after editing dependencies; make upgrade-deps refreshes every pin
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: deps venv lock upgrade-deps sandbox sandbox-down test unit demo bench check lint clean

deps:
	@bash sip_test_harness/install-deps.sh

# Installs come from the lock (exact versions, hashes checked): an upstream release can
# no longer change what a fresh checkout tests. The project itself goes in without deps.
$(STAMP): requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q --require-hashes -r requirements-dev.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $(STAMP)

venv: deps $(STAMP)

# The locks cover Python 3.11+ on any platform (--universal) with every file's hash.
# The dev lock is the whole closure; the runtime lock takes its versions from it.
LOCK := $(VENV)/bin/uv pip compile pyproject.toml --quiet --generate-hashes --universal \
	--python-version 3.11 --custom-compile-command 'make lock'

# After adding a dependency to pyproject.toml: existing pins are kept, new ones resolved.
lock: $(STAMP)
	$(LOCK) $(UV_ARGS) --extra dev -o requirements-dev.txt
	$(LOCK) $(UV_ARGS) -c requirements-dev.txt -o requirements.txt
	$(MAKE) $(STAMP)

# Every pin to its newest allowed release, then the whole suite on them.
upgrade-deps:
	$(MAKE) lock UV_ARGS=--upgrade
	$(MAKE) test

sandbox: venv
	$(PY) -m sip_test_harness sandbox up

sandbox-down: venv
	$(PY) -m sip_test_harness sandbox down

# TEST_WORKERS=2: two pytest-xdist workers, whole files each, the longest first; worker K
# runs its real-Asterisk tests on sandbox instance B+K (B = $CLINIC_ROUTER_SANDBOX_INSTANCE,
# 0 when unset; docs/dev/testing.md). 0: one process, on instance B.
TEST_WORKERS ?= 2
test: venv
	$(PY) -m sip_test_harness sandbox build
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

unit: venv
	$(PY) -m pytest -m "not asterisk" $(PYTEST_ARGS)

# make demo KEEP=60: the router (and its console) stays up 60 s after the calls.
demo: venv
	DEMO_KEEP_S=$(KEEP) $(PY) -m sip_test_harness demo

bench: venv
	$(PY) -m sip_test_harness bench

check: venv
	$(VENV)/bin/clinic-router check config/router.yaml

lint: venv
	$(VENV)/bin/ruff check router sip_test_harness tests
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
