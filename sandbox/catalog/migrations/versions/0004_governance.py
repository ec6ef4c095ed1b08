"""audit retention, revocation, destruction, metering (issue 8)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01

A placeholder in the fixed chain 0003..0010 (one revision per workstream, so parallel work never forks
the history); it does nothing until its workstream fills it in.
"""

from __future__ import annotations

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
