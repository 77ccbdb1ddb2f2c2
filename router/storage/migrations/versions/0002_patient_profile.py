"""Patient profile: birth year, last contact, appointments.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23

Written by hand, not imported from `router.storage.tables` (see 0001). The new patient
columns are nullable, so existing rows need no default and SQLite adds them with a plain
`ALTER TABLE ... ADD COLUMN` (batch mode rebuilds the table only for what that cannot do).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)
_AUTO_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("patients") as batch:
        batch.add_column(sa.Column("birth_year", sa.SmallInteger(), nullable=True))
        batch.add_column(sa.Column("last_contact_at", _TS, nullable=True))
        batch.add_column(sa.Column("last_contact_operator_id", sa.Text(), nullable=True))
        batch.add_column(sa.Column("last_contact_category", sa.Text(), nullable=True))
        batch.add_column(sa.Column("last_contact_outcome", sa.Text(), nullable=True))
    op.create_table(
        "appointments",
        sa.Column("id", _AUTO_ID, autoincrement=True, nullable=False),
        sa.Column("patient_id", sa.Text(), nullable=False),
        sa.Column("starts_at", _TS, nullable=False),
        sa.Column("doctor", sa.Text(), nullable=True),
        sa.Column("branch", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name="fk_appointments_patient_id_patients",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_appointments"),
    )
    op.create_index(
        "ix_appointments_patient_id_starts_at", "appointments", ["patient_id", "starts_at"]
    )


def downgrade() -> None:
    op.drop_table("appointments")
    with op.batch_alter_table("patients") as batch:
        batch.drop_column("last_contact_outcome")
        batch.drop_column("last_contact_category")
        batch.drop_column("last_contact_operator_id")
        batch.drop_column("last_contact_at")
        batch.drop_column("birth_year")
