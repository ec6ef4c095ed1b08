"""released unit sets, quality reports, previews (issue 6)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01

A placeholder in the fixed chain 0003..0010 (one revision per workstream, so parallel work never forks
the history); it does nothing until its workstream fills it in.
"""

from __future__ import annotations

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
