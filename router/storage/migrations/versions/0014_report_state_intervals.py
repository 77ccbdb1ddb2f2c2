"""Operators' state seconds per interval: `report_state_intervals`, and
`report_rollups.states`.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04

A year's report summed the operators' state spans raw: 1.6 million state changes sorted
by a `LEAD` window, about 9 s of a 20 s report on SQLite. This table holds, for each
built interval, the microseconds each operator spent in each state (pause reason kept),
so a period reads its built intervals' rows and only its edges raw
(`router/storage/report_state_rollup.py`). The intervals built before this migration have
no such rows: their marks say so (`states` false), so they are read raw for the state
seconds until built again, and the builders build them again (but not those past the
calls' retention, whose calls' sums stay). Written by hand, not imported (see 0001).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "report_rollups",
        sa.Column("states", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.create_table(
        "report_state_intervals",
        sa.Column("interval_us", sa.BigInteger(), nullable=False),
        sa.Column("operator_id", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text()),
        sa.Column("us", sa.BigInteger(), nullable=False),
    )
    op.create_index(
        "ix_report_state_intervals_interval_us", "report_state_intervals", ["interval_us"]
    )


def downgrade() -> None:
    op.drop_table("report_state_intervals")
    with op.batch_alter_table("report_rollups") as batch:
        batch.drop_column("states")
