"""audit_head.changed_seq: the seq of the newest event that changes what product calls prepare

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01

Product calls reuse their preparation (sandbox/product_cache.py) while this number stands still; it
moves in the same transaction as the event that changes a dataset, scenario, template, product or
user (sandbox.audit.CHANGE_EVENTS). Existing catalogs start at their current seq: every entry made
before the upgrade is then read again.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_head", schema=None) as batch_op:
        batch_op.add_column(sa.Column("changed_seq", sa.Integer(), nullable=False, server_default="0"))
    op.execute("UPDATE audit_head SET changed_seq = seq")


def downgrade() -> None:
    with op.batch_alter_table("audit_head", schema=None) as batch_op:
        batch_op.drop_column("changed_seq")
