"""Console sessions kept on the server (sign-out ends a copied cookie too).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03

One row per signed-in browser: the SHA-256 of the cookie's random session id, the user,
when it began and when it was last used (idle and absolute expiry). Written by hand,
not imported (see 0001).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "console_sessions",
        sa.Column("id_hash", sa.Text(), nullable=False),
        sa.Column("username", sa.Text(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("seen_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id_hash", name="pk_console_sessions"),
    )
    op.create_index("ix_console_sessions_username", "console_sessions", ["username"])


def downgrade() -> None:
    op.drop_index("ix_console_sessions_username", table_name="console_sessions")
    op.drop_table("console_sessions")
