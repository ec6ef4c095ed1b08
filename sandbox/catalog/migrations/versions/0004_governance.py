"""audit retention, revocation, destruction, metering (issue 8)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01

usage_records (metering), audit_anchors (where the chain starts after a purge), dataset_keys (sealed
per-version data keys; deleting a row crypto-shreds that version), destructions (what was destroyed).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "usage_records",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("scenario_id", sa.String(length=40), nullable=False),
        sa.Column("subject_id", sa.String(length=40), nullable=False),
        sa.Column("form", sa.String(length=30), nullable=False),
        sa.Column("volume", sa.BigInteger(), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("job_id", sa.String(length=40), nullable=True),
        sa.Column("product_id", sa.String(length=40), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["scenario_id"], ["scenarios.id"]),
        sa.ForeignKeyConstraint(["subject_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("usage_records", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_usage_records_scenario_id"), ["scenario_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_usage_records_subject_id"), ["subject_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_usage_records_period"), ["period"], unique=False)
    op.create_table(
        "audit_anchors",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("purged_before", sa.String(length=40), nullable=False),
        sa.Column("purged_events", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "dataset_keys",
        sa.Column("dataset_id", sa.String(length=40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("sealed", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("dataset_id", "version"),
    )
    op.create_table(
        "destructions",
        sa.Column("object_type", sa.String(length=40), nullable=False),
        sa.Column("object_id", sa.String(length=80), nullable=False),
        sa.Column("destroyed_by", sa.String(length=40), nullable=True),
        sa.Column("destroyed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("object_type", "object_id"),
    )


def downgrade() -> None:
    op.drop_table("destructions")
    op.drop_table("dataset_keys")
    op.drop_table("audit_anchors")
    with op.batch_alter_table("usage_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_usage_records_period"))
        batch_op.drop_index(batch_op.f("ix_usage_records_subject_id"))
        batch_op.drop_index(batch_op.f("ix_usage_records_scenario_id"))
    op.drop_table("usage_records")
