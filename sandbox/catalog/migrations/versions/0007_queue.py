"""job queue and workers (issue 9)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01

A placeholder in the fixed chain 0003..0010 (one revision per workstream, so parallel work never forks
the history); it does nothing until its workstream fills it in.
"""

from __future__ import annotations

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
