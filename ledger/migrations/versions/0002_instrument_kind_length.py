"""Widen ``margin_instruments.kind`` to 32 characters.

'index_constituent' has 17 characters: PostgreSQL enforces VARCHAR(16) (SQLite does not), so
registering an index constituent failed there. Batch mode so SQLite's schema says the same.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("margin_instruments") as batch:
        batch.alter_column("kind", existing_type=sa.String(16), type_=sa.String(32), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("margin_instruments") as batch:
        batch.alter_column("kind", existing_type=sa.String(32), type_=sa.String(16), existing_nullable=False)
