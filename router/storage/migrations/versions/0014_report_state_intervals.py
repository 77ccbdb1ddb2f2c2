"""Operators' state seconds per interval and per day: `report_state_intervals`,
`report_state_days`, and `report_rollups.duty_us`.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04

A year's report summed the operators' state spans raw: 1.6 million state changes sorted
by a `LEAD` window, about 9 s of a 20 s report on SQLite. `report_state_intervals` holds,
for each built interval, the microseconds each operator spent in each state (pause
reason kept), and `report_state_days` the same summed over a UTC day all of whose
intervals are built (a year: 365 days' rows instead of 35,040 intervals'), so a period
reads its built days' and intervals' rows and only its edges raw
(`router/storage/report_state_rollup.py`); `report_rollups.duty_us` is an interval's
time on duty (all operators), for the staffing view's hours. The intervals built before
this migration have no such rows: their marks say so (`duty_us` NULL), so they are read
raw for the state seconds until built again, and the builders build them again (but not
those past the calls' retention, whose calls' sums stay). Written by hand, not imported
(see 0001).
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
    op.add_column("report_rollups", sa.Column("duty_us", sa.BigInteger()))
    for table, key in (("report_state_intervals", "interval_us"), ("report_state_days", "day_us")):
        op.create_table(
            table,
            sa.Column(key, sa.BigInteger(), nullable=False),
            sa.Column("operator_id", sa.Text(), nullable=False),
            sa.Column("state", sa.Text(), nullable=False),
            sa.Column("reason", sa.Text()),
            sa.Column("us", sa.BigInteger(), nullable=False),
        )
        op.create_index(f"ix_{table}_{key}", table, [key])


def downgrade() -> None:
    op.drop_table("report_state_days")
    op.drop_table("report_state_intervals")
    with op.batch_alter_table("report_rollups") as batch:
        batch.drop_column("duty_us")
