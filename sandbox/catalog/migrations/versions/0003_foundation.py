"""unit ordinals and ranks (lead)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

A placeholder in the fixed chain 0003..0010 (one revision per workstream, so parallel work never forks
the history); it does nothing until its workstream fills it in.
"""

from __future__ import annotations

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
