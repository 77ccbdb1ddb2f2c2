"""Report history: operators' state changes, a callback task's first attempt.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03

`operator_states` keeps every change of an operator's state (one row per change: the
state, a pause's reason, when it began), so the reports can give wrap-up and pause time
by reason; a state written again unchanged is the same row (the unique key). Rows start
with this revision: earlier periods have no state history.
`callback_tasks.first_attempt_at`: the time from a miss to its first callback attempt
(`last_attempt_at` keeps only the latest). Written by hand, not imported (see 0001).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)
_AUTO_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "operator_states",
        sa.Column("id", _AUTO_ID, autoincrement=True, nullable=False),
        sa.Column("operator_id", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_operator_states"),
        sa.UniqueConstraint(
            "operator_id", "at", "state", name="uq_operator_states_operator_id_at_state"
        ),
    )
    op.create_index("ix_operator_states_at", "operator_states", ["at"])
    with op.batch_alter_table("callback_tasks") as batch:
        batch.add_column(sa.Column("first_attempt_at", _TS, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("callback_tasks") as batch:
        batch.drop_column("first_attempt_at")
    op.drop_index("ix_operator_states_at", table_name="operator_states")
    op.drop_table("operator_states")
