"""templates and products (issue 10)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01

Templates (immutable parameterized SQL with its pin), their approvals, products, the per-consumer dp
budgets keyed on the template lineage, the repeat cache of dp calls, the differencing guard's unit
sets per lineage, and the record of every product call.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "templates",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("lineage_id", sa.String(40), nullable=False, index=True),
        sa.Column("revises_id", sa.String(40)),
        sa.Column("scenario_id", sa.String(40), sa.ForeignKey("scenarios.id"), nullable=False, index=True),
        sa.Column("author_id", sa.String(40), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("sql", sa.Text(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("mode", sa.String(10), nullable=False),
        sa.Column("epsilon", sa.Float()),
        sa.Column("dataset_versions", sa.JSON(), nullable=False),
        sa.Column("bundle_version", sa.String(64), nullable=False),
        sa.Column("pin", sa.String(64), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "template_approvals",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("template_id", sa.String(40), sa.ForeignKey("templates.id"), nullable=False, index=True),
        sa.Column("approver_id", sa.String(40), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("dataset_id", sa.String(40), nullable=False),
        sa.Column("pin", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("template_id", "role", "dataset_id", "approver_id"),
    )
    op.create_table(
        "products",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("template_id", sa.String(40), sa.ForeignKey("templates.id"), nullable=False, index=True),
        sa.Column("lineage_id", sa.String(40), nullable=False, index=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("form", sa.String(30), nullable=False),
        sa.Column("fee_class", sa.String(20), nullable=False),
        sa.Column("price", sa.String(40)),
        sa.Column("price_cap", sa.String(40)),
        sa.Column("consumers", sa.JSON(), nullable=False),
        sa.Column("period_epsilon", sa.Float()),
        sa.Column("lifetime_epsilon", sa.Float()),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("publisher_id", sa.String(40), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "product_budgets",
        sa.Column("consumer_id", sa.String(40), sa.ForeignKey("users.id"), primary_key=True),
        sa.Column("lineage_id", sa.String(40), primary_key=True),
        sa.Column("dataset_id", sa.String(40), primary_key=True),
        sa.Column("period", sa.String(10), primary_key=True),
        sa.Column("epsilon_units", sa.BigInteger(), nullable=False),
        sa.Column("delta_units", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "product_dp_releases",
        sa.Column("lineage_id", sa.String(40), primary_key=True),
        sa.Column("consumer_id", sa.String(40), primary_key=True),
        sa.Column("query_hash", sa.String(64), primary_key=True),
        sa.Column("table_ipc", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "product_unit_sets",
        sa.Column("lineage_id", sa.String(40), primary_key=True),
        sa.Column("dataset_id", sa.String(40), primary_key=True),
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("units", sa.LargeBinary(), nullable=False),
    )
    op.create_table(
        "product_calls",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("product_id", sa.String(40), sa.ForeignKey("products.id"), nullable=False, index=True),
        sa.Column("consumer_id", sa.String(40), sa.ForeignKey("users.id"), nullable=False, index=True),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("reason_code", sa.String(60)),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.String(40)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "product_calls",
        "product_unit_sets",
        "product_dp_releases",
        "product_budgets",
        "products",
        "template_approvals",
        "templates",
    ):
        op.drop_table(table)
