"""Hour and day rollups: `report_call_hours`, `report_call_days`, `report_operator_days`.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04

A year's operator rows at 15 minutes are about one per ring (983,006 for a million
calls): summing them took 4.7 s of a year's report on SQLite; its 52,560 call rows,
each with four histograms decoded in the process, about 5 s. These tables hold the
calls' rows summed per whole UTC hour and day and the operators' per whole UTC day
(`router/storage/report_rollup_spans.py`), written again whenever one of a span's
intervals is built. The intervals built before have none (`report_rollups.spans`
false): read by intervals until built again. Written by hand, not imported (see 0001).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


_COUNTS = (
    "calls", "answered", "ab_menu", "ab_waiting", "ab_ringing", "no_operator",
    "callback_promised", "message", "failed", "fallback", "waited", "speeds", "talks",
)  # fmt: skip


def upgrade() -> None:
    # The intervals built so far have no hours' and days' rows (`spans` false): read by
    # intervals as before, and built again by the builders (those within the calls'
    # retention: a pruned period's sums stay, read by intervals).
    op.add_column(
        "report_rollups",
        sa.Column("spans", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    for table in ("report_call_hours", "report_call_days"):
        op.create_table(
            table,
            sa.Column("span_us", sa.BigInteger(), nullable=False),
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
        op.create_index(f"ix_{table}_span_us", table, ["span_us"])
    op.create_table(
        "report_operator_days",
        sa.Column("span_us", sa.BigInteger(), nullable=False),
        sa.Column("operator_id", sa.Text(), nullable=False),
        sa.Column("result", sa.Text()),
        sa.Column("rings", sa.Integer(), nullable=False),
        sa.Column("answers", sa.Integer(), nullable=False),
        sa.Column("answer_ms", sa.BigInteger(), nullable=False),
        sa.Column("talks", sa.Integer(), nullable=False),
        sa.Column("talk_us", sa.BigInteger(), nullable=False),
        sa.Column("answer_s", sa.Text(), nullable=False),
    )
    op.create_index("ix_report_operator_days_span_us", "report_operator_days", ["span_us"])


def downgrade() -> None:
    with op.batch_alter_table("report_rollups") as batch:
        batch.drop_column("spans")
    op.drop_table("report_operator_days")
    op.drop_table("report_call_days")
    op.drop_table("report_call_hours")
