"""differential privacy releases (issue 5)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01

`dp_releases`: the noisy output of a dp job per (scenario, query hash), so a repeated identical query
returns the same release without a second debit.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dp_releases",
        sa.Column("scenario_id", sa.String(length=40), nullable=False),
        sa.Column("query_hash", sa.String(length=64), nullable=False),
        sa.Column("job_id", sa.String(length=40), nullable=False),
        sa.Column("table_ipc", sa.LargeBinary(), nullable=True),
        sa.Column("report", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["scenario_id"], ["scenarios.id"]),
        sa.PrimaryKeyConstraint("scenario_id", "query_hash"),
    )


def downgrade() -> None:
    op.drop_table("dp_releases")
