"""Callback ledger: every missed call, and one active callback task per patient number.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

Written by hand, not imported from `router.storage.tables` (see 0001). Both partial
indexes use a WHERE clause that SQLite (3.8+) and PostgreSQL accept alike.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_AUTO_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_ACTIVE = "state IN ('open', 'claimed')"


def upgrade() -> None:
    op.create_table(
        "callback_tasks",
        sa.Column("id", _AUTO_ID, autoincrement=True, nullable=False),
        sa.Column("number_e164", sa.Text(), nullable=False),
        sa.Column("patient_id", sa.Text(), nullable=True),
        sa.Column("line", sa.Text(), nullable=True),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("reasons", _JSON, nullable=False),
        sa.Column("miss_count", sa.Integer(), nullable=False),
        sa.Column("first_missed_at", _TS, nullable=False),
        sa.Column("last_missed_at", _TS, nullable=False),
        sa.Column("priority", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("due_at", _TS, nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("attempt_started_at", _TS, nullable=True),
        sa.Column("last_attempt_at", _TS, nullable=True),
        sa.Column("last_outcome", sa.Text(), nullable=True),
        sa.Column("claimed_by", sa.Text(), nullable=True),
        sa.Column("claimed_at", _TS, nullable=True),
        sa.Column("closed_at", _TS, nullable=True),
        sa.Column("close_reason", sa.Text(), nullable=True),
        sa.Column("closed_by", sa.Text(), nullable=True),
        sa.Column("closed_call_id", sa.Text(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("preferred_operator_id", sa.Text(), nullable=True),
        sa.Column("callback_number", sa.Text(), nullable=True),
        sa.Column("keep_place", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_callback_tasks"),
    )
    op.create_index(
        "uq_callback_tasks_active_number",
        "callback_tasks",
        ["number_e164"],
        unique=True,
        sqlite_where=sa.text(_ACTIVE),
        postgresql_where=sa.text(_ACTIVE),
    )
    op.create_index(
        "ix_callback_tasks_due",
        "callback_tasks",
        ["due_at"],
        sqlite_where=sa.text(_ACTIVE),
        postgresql_where=sa.text(_ACTIVE),
    )
    op.create_index("ix_callback_tasks_closed_at", "callback_tasks", ["closed_at"])
    op.create_table(
        "misses",
        sa.Column("id", _AUTO_ID, autoincrement=True, nullable=False),
        sa.Column("call_id", sa.Text(), nullable=False),
        sa.Column("line", sa.Text(), nullable=True),
        sa.Column("number_e164", sa.Text(), nullable=True),
        sa.Column("patient_id", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("waited_s", sa.Float(), nullable=False),
        sa.Column("missed_at", _TS, nullable=False),
        sa.Column("task_id", _AUTO_ID, nullable=True),
        sa.Column("anonymous", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["callback_tasks.id"],
            name="fk_misses_task_id_callback_tasks",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_misses"),
        sa.UniqueConstraint("call_id", name="uq_misses_call_id"),
    )
    op.create_index("ix_misses_missed_at", "misses", ["missed_at"])
    op.create_index("ix_misses_task_id", "misses", ["task_id"])


def downgrade() -> None:
    op.drop_table("misses")
    op.drop_table("callback_tasks")
