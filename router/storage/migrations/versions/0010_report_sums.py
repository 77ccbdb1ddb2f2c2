"""Reports summed by the database: an index for each call's journey facts.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03

The reports' sums (`router/storage/report_sql.py`) read, per call of the period, its
first `waiting` event (when, and what for), whether it has a `fallback` one and the line
of its `arrived` one. With `(call_id, kind, at)` each is one index seek, whatever the
length of the journey; `call_id` alone read every event of the call. Written by hand,
not imported (see 0001).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NAME = "ix_call_events_call_id_kind_at"


def upgrade() -> None:
    op.create_index(_NAME, "call_events", ["call_id", "kind", "at"])


def downgrade() -> None:
    op.drop_index(_NAME, table_name="call_events")
