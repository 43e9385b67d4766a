"""(Was) the instrument master's columns and the facility's haircut add-on.

Moved to the margin room's own chain (m0003_instrument_master.py): the ledger's history keeps this revision as
a step that does nothing, so databases already past it and new ones agree.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from __future__ import annotations

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing: see ``margin/migrations/versions/m0003_instrument_master.py``."""


def downgrade() -> None:
    """Nothing to undo here."""
