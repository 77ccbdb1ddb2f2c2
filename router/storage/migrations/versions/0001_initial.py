"""Initial schema: patients and their phones, operators, calls and their journeys.

Revision ID: 0001
Revises:
Create Date: 2026-11-23

Written by hand, not imported from `router.storage.tables`: a migration must keep
creating the schema of its day whatever the tables module becomes later.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_AUTO_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "patients",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("assigned_operator_id", sa.Text(), nullable=True),
        sa.Column("team", sa.Text(), nullable=True),
        sa.Column("tags", _JSON, nullable=False),
        sa.Column("language", sa.Text(), nullable=True),
        sa.Column("preferred_branch", sa.Text(), nullable=True),
        sa.Column("do_not_call", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_patients"),
    )
    op.create_index("ix_patients_assigned_operator_id", "patients", ["assigned_operator_id"])
    op.create_table(
        "patient_phones",
        sa.Column("phone", sa.Text(), nullable=False),
        sa.Column("patient_id", sa.Text(), nullable=False),
        sa.Column("position", sa.SmallInteger(), server_default=sa.text("0"), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name="fk_patient_phones_patient_id_patients",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("phone", "patient_id", name="pk_patient_phones"),
    )
    op.create_index("ix_patient_phones_patient_id", "patient_phones", ["patient_id"])
    op.create_table(
        "operators",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("endpoint", sa.Text(), nullable=False),
        sa.Column("team", sa.Text(), nullable=True),
        sa.Column("branch", sa.Text(), nullable=True),
        sa.Column("configured", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("state", sa.Text(), server_default=sa.text("'offline'"), nullable=False),
        sa.Column("state_reason", sa.Text(), nullable=True),
        sa.Column("state_changed_at", _TS, nullable=True),
        sa.Column("idle_since", _TS, nullable=True),
        sa.Column("calls_today", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "consecutive_no_answers", sa.Integer(), server_default=sa.text("0"), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name="pk_operators"),
    )
    op.create_table(
        "calls",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("app", sa.Text(), nullable=False),
        sa.Column("caller_raw", sa.Text(), nullable=False),
        sa.Column("caller_e164", sa.Text(), nullable=True),
        sa.Column("did", sa.Text(), nullable=False),
        sa.Column("line", sa.Text(), nullable=True),
        sa.Column("patient_id", sa.Text(), nullable=True),
        sa.Column("started_at", _TS, nullable=False),
        sa.Column("answered_at", _TS, nullable=True),
        sa.Column("ended_at", _TS, nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("operator_id", sa.Text(), nullable=True),
        sa.Column("phase", sa.Text(), server_default=sa.text("'new'"), nullable=False),
        sa.Column("bridge_id", sa.Text(), nullable=True),
        sa.Column("operator_channel_id", sa.Text(), nullable=True),
        sa.Column("tried_operators", _JSON, nullable=False),
        sa.Column("rules_version", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_calls"),
    )
    op.create_index("ix_calls_started_at", "calls", ["started_at"])
    op.create_index("ix_calls_patient_id", "calls", ["patient_id"])
    op.create_index(
        "ix_calls_open",
        "calls",
        ["app"],
        sqlite_where=sa.text("ended_at IS NULL"),
        postgresql_where=sa.text("ended_at IS NULL"),
    )
    op.create_table(
        "call_events",
        sa.Column("id", _AUTO_ID, autoincrement=True, nullable=False),
        sa.Column("call_id", sa.Text(), nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("data", _JSON, nullable=False),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.id"], name="fk_call_events_call_id_calls", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_call_events"),
    )
    op.create_index("ix_call_events_call_id", "call_events", ["call_id"])
    op.create_table(
        "ring_attempts",
        sa.Column("id", _AUTO_ID, autoincrement=True, nullable=False),
        sa.Column("call_id", sa.Text(), nullable=False),
        sa.Column("operator_id", sa.Text(), nullable=False),
        sa.Column("channel_id", sa.Text(), nullable=True),
        sa.Column("started_at", _TS, nullable=False),
        sa.Column("ended_at", _TS, nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.id"], name="fk_ring_attempts_call_id_calls", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_ring_attempts"),
    )
    op.create_index("ix_ring_attempts_call_id", "ring_attempts", ["call_id"])
    op.create_index(
        "ix_ring_attempts_operator_id_started_at", "ring_attempts", ["operator_id", "started_at"]
    )


def downgrade() -> None:
    op.drop_table("ring_attempts")
    op.drop_table("call_events")
    op.drop_table("calls")
    op.drop_table("operators")
    op.drop_table("patient_phones")
    op.drop_table("patients")
