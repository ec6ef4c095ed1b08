"""released unit sets, quality reports, previews (issue 6)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01

Adds `dataset_versions.quality` (the data quality report measured at registration) and
`scenarios.desensitize` (per-column desensitization declared in the grant).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # the data quality report of each version (sandbox.quality); the differencing guard's unit sets
    # live under SANDBOX_HOME/unitsets, not in the catalog
    with op.batch_alter_table("dataset_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("quality", sa.JSON(), nullable=True))
    # per-column desensitization declared in a scenario grant
    with op.batch_alter_table("scenarios", schema=None) as batch_op:
        batch_op.add_column(sa.Column("desensitize", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("scenarios", schema=None) as batch_op:
        batch_op.drop_column("desensitize")
    with op.batch_alter_table("dataset_versions", schema=None) as batch_op:
        batch_op.drop_column("quality")
