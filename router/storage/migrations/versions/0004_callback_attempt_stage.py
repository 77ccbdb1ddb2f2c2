"""Callback dispatch: how far the running attempt got, and who is on it.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23

A router that dies mid-callback must know, when it comes back, whether the patient was
already dialled (never dial twice) and whether they talked (close the task connected).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("callback_tasks") as batch:
        batch.add_column(sa.Column("attempt_stage", sa.Text(), nullable=True))
        batch.add_column(sa.Column("attempt_operator_id", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("callback_tasks") as batch:
        batch.drop_column("attempt_operator_id")
        batch.drop_column("attempt_stage")
