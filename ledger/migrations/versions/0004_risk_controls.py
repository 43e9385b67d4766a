"""(Was) the dynamic risk controls' tables.

Moved to the margin room's own chain (m0002_risk_controls.py): the ledger's history keeps this revision as
a step that does nothing, so databases already past it and new ones agree.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing: see ``margin/migrations/versions/m0002_risk_controls.py``."""


def downgrade() -> None:
    """Nothing to undo here."""
