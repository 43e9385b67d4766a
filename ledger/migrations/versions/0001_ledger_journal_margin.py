"""Ledger accounts, transfers and pending states; the decision journal.

The margin-lending tables this revision once created moved to the margin room's own chain
(``margin/migrations``, m0001), which adopts them where they already exist.

Revision ID: 0001
Revises:
Create Date: 2026-01-20
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _big(name: str, **kw: object) -> sa.Column:
    return sa.Column(name, sa.BigInteger(), nullable=False, **kw)  # type: ignore[arg-type]


def upgrade() -> None:
    op.create_table(
        "ledger_accounts",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=False),
        _big("ledger"),
        _big("code"),
        sa.Column("flags", sa.Integer(), nullable=False),
        _big("user_data"),
        _big("debits_pending"),
        _big("debits_posted"),
        _big("credits_pending"),
        _big("credits_posted"),
        _big("timestamp_ns"),
    )
    op.create_table(
        "ledger_transfers",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=False),
        _big("debit_account_id"),
        _big("credit_account_id"),
        _big("amount_minor"),
        _big("ledger"),
        _big("code"),
        sa.Column("flags", sa.Integer(), nullable=False),
        _big("pending_id"),
        _big("timeout_s"),
        _big("user_data"),
        _big("timestamp_ns"),
    )
    op.create_index("ix_ledger_transfers_debit", "ledger_transfers", ["debit_account_id"])
    op.create_index("ix_ledger_transfers_credit", "ledger_transfers", ["credit_account_id"])
    op.create_table(
        "ledger_pending",
        sa.Column("transfer_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("status", sa.SmallInteger(), nullable=False),
        _big("expires_at_ns"),
    )
    op.create_index("ix_ledger_pending_due", "ledger_pending", ["status", "expires_at_ns"])
    op.create_table(
        "decision_journal",
        sa.Column("seq", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("decision_id", sa.String(64), nullable=False, unique=True),
        sa.Column("application_id", sa.String(64), nullable=False, unique=True),
        sa.Column("payload", sa.Text(), nullable=False),
        _big("created_at_ns"),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_table(
        "decision_journal_head",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        _big("seq"),
        sa.Column("hash", sa.String(64), nullable=False),
    )


def downgrade() -> None:
    for name in (
        "decision_journal_head",
        "decision_journal",
        "ledger_pending",
        "ledger_transfers",
        "ledger_accounts",
    ):
        op.drop_table(name)
