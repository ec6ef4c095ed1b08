"""sources, credentials, refresh, held versions (issue 12)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

`dataset_sources` holds each dataset's connector spec sealed under the master key, its refresh
schedule and last outcome; `dataset_versions` gains `status` (confirmed | held | superseded) and the
`schema_change` a held version awaits confirmation of.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dataset_sources",
        sa.Column("dataset_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("display", sa.JSON(), nullable=False),
        sa.Column("sealed_spec", sa.LargeBinary(), nullable=False),
        sa.Column("refresh", sa.String(length=20), nullable=True),
        sa.Column("next_refresh_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_refresh_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=60), nullable=True),
        sa.ForeignKeyConstraint(["dataset_id"], ["datasets.id"]),
        sa.PrimaryKeyConstraint("dataset_id"),
    )
    with op.batch_alter_table("dataset_sources", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dataset_sources_next_refresh_at"), ["next_refresh_at"])
    with op.batch_alter_table("dataset_versions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("status", sa.String(length=20), nullable=False, server_default="confirmed")
        )
        batch_op.add_column(sa.Column("schema_change", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("dataset_versions", schema=None) as batch_op:
        batch_op.drop_column("schema_change")
        batch_op.drop_column("status")
    with op.batch_alter_table("dataset_sources", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dataset_sources_next_refresh_at"))
    op.drop_table("dataset_sources")
