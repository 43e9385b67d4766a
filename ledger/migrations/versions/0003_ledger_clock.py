"""The ledger clock: one row holding the last timestamp handed out, and an index on transfer time.

Timestamps must increase strictly across commits (not only within a batch), so that "the
transfers committed since timestamp T" is exact for a reader that follows the ledger (the
margin book advances by them). Each commit reads this row under a lock, stamps its batch
after it, and writes the new high-water mark in the same transaction.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ledger_clock",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("last_timestamp_ns", sa.BigInteger, nullable=False),
    )
    op.execute(
        "INSERT INTO ledger_clock (id, last_timestamp_ns) SELECT 1, COALESCE(MAX(t), 0) FROM ("
        " SELECT MAX(timestamp_ns) AS t FROM ledger_transfers"
        " UNION ALL SELECT MAX(timestamp_ns) FROM ledger_accounts) AS stamps"
    )
    op.create_index("ix_ledger_transfers_timestamp", "ledger_transfers", ["timestamp_ns"])


def downgrade() -> None:
    op.drop_index("ix_ledger_transfers_timestamp", "ledger_transfers")
    op.drop_table("ledger_clock")
