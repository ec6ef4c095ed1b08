"""status reads and throughput (issue 9)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01

A placeholder in the fixed chain 0011..0014 (one revision per workstream, so parallel work never forks
the history); it does nothing until its workstream fills it in.
"""

from __future__ import annotations

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
