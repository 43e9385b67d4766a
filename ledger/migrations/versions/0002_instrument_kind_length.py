"""(Was) widen ``margin_instruments.kind`` to 32 characters.

Moved to the margin room's own chain (m0001_margin_books.py): the ledger's history keeps this revision as
a step that does nothing, so databases already past it and new ones agree.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing: see ``margin/migrations/versions/m0001_margin_books.py``."""


def downgrade() -> None:
    """Nothing to undo here."""
