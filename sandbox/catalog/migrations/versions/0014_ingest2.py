"""bounded registration (issue 12)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01

A placeholder in the fixed chain 0011..0014 (one revision per workstream, so parallel work never forks
the history); it does nothing until its workstream fills it in.
"""

from __future__ import annotations

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
