"""A callback attempt's rings journaled: the table `callback_rings`.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03

`ring_attempts` rows belong to an inbound call (a foreign key to `calls`); an attempt has
no call row. A sibling table keeps the operators' inbound ring figures as they are and
reads plainly: task, attempt, who was rung (operator or patient), the result. Written by
hand, not imported (see 0001).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)
_AUTO_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "callback_rings",
        sa.Column("id", _AUTO_ID, autoincrement=True, nullable=False),
        sa.Column("task_id", _AUTO_ID, nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("party", sa.Text(), nullable=False),
        sa.Column("operator_id", sa.Text(), nullable=False),
        sa.Column("channel_id", sa.Text(), nullable=False),
        sa.Column("started_at", _TS, nullable=False),
        sa.Column("ended_at", _TS, nullable=False),
        sa.Column("result", sa.Text(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["callback_tasks.id"],
            name="fk_callback_rings_task_id_callback_tasks",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_callback_rings"),
        sa.UniqueConstraint("channel_id", name="uq_callback_rings_channel_id"),
    )
    op.create_index("ix_callback_rings_task_id_attempt", "callback_rings", ["task_id", "attempt"])
    op.create_index(
        "ix_callback_rings_operator_id_started_at",
        "callback_rings",
        ["operator_id", "started_at"],
    )


def downgrade() -> None:
    op.drop_table("callback_rings")
