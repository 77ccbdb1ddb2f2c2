"""Alembic migration scripts (a package so that they ship inside the wheel).

`router.storage.migrate` points alembic here; `sql/alembic.ini` does too, for the CLI.
"""
