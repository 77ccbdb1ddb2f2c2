"""Callback target: where the missed call was meant to go, so its callback goes there too.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03

A task keeps the line, queue (or skills with levels) and manager of its latest specific
miss as one JSON object (`router.domain.miss_target.MissTarget`), so the
dispatcher picks an operator with the same eligibility as the live routing. NULL: a task
recorded before this revision, or a miss with no known target (the line's default then).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("callback_tasks") as batch:
        batch.add_column(sa.Column("target", _JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("callback_tasks") as batch:
        batch.drop_column("target")
