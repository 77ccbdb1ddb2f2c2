"""Interval rollups of the reports: `report_rollups`, `report_intervals`,
`report_operator_intervals`.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03

A year's report summed a million calls and sorted them once per percentile (tens of CPU
seconds, docs/reports.md "Benchmark"). These tables hold the calls of each settled
15-minute interval summed per line and queue, with per-second histograms for the
percentiles, and their rings and talk per operator (`router/storage/report_rollup_sql.py`).
Written by hand, not imported (see 0001).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COUNTS = (
    "calls", "answered", "ab_menu", "ab_waiting", "ab_ringing", "no_operator",
    "callback_promised", "message", "failed", "fallback", "waited", "speeds", "talks",
)  # fmt: skip


def upgrade() -> None:
    op.create_table(
        "report_rollups",
        sa.Column("interval_us", sa.BigInteger(), nullable=False),
        sa.Column("built_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("interval_us", name="pk_report_rollups"),
    )
    op.create_table(
        "report_intervals",
        sa.Column("interval_us", sa.BigInteger(), nullable=False),
        sa.Column("line", sa.Text()),
        sa.Column("queue", sa.Text()),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in _COUNTS),
        sa.Column("speed_us", sa.BigInteger(), nullable=False),
        sa.Column("talk_us", sa.BigInteger(), nullable=False),
        sa.Column("wait_us", sa.BigInteger(), nullable=False),
        sa.Column("wait_max_us", sa.BigInteger()),
        sa.Column("first_us", sa.BigInteger(), nullable=False),
        sa.Column("waits", sa.Text(), nullable=False),
        sa.Column("speeds_up", sa.Text(), nullable=False),
        sa.Column("route_known", sa.Text(), nullable=False),
        sa.Column("route_unknown", sa.Text(), nullable=False),
    )
    op.create_index("ix_report_intervals_interval_us", "report_intervals", ["interval_us"])
    op.create_table(
        "report_operator_intervals",
        sa.Column("interval_us", sa.BigInteger(), nullable=False),
        sa.Column("operator_id", sa.Text(), nullable=False),
        sa.Column("result", sa.Text()),
        sa.Column("rings", sa.Integer(), nullable=False),
        sa.Column("answers", sa.Integer(), nullable=False),
        sa.Column("answer_ms", sa.BigInteger(), nullable=False),
        sa.Column("talks", sa.Integer(), nullable=False),
        sa.Column("talk_us", sa.BigInteger(), nullable=False),
        sa.Column("answer_s", sa.Text(), nullable=False),
    )
    op.create_index(
        "ix_report_operator_intervals_interval_us", "report_operator_intervals", ["interval_us"]
    )


def downgrade() -> None:
    op.drop_table("report_operator_intervals")
    op.drop_table("report_intervals")
    op.drop_table("report_rollups")
