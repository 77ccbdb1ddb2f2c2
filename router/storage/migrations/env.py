"""Alembic's environment: everything lives in `router.storage.migrate` (typed, tested)."""

from router.storage.migrate import run_environment

run_environment()
