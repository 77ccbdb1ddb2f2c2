"""Revisions, oldest first. Alembic skips this file (it has no revision id)."""
