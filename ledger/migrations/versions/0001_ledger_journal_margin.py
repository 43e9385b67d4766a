"""Ledger accounts, transfers and pending states; the decision journal; margin-lending tables.

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
    op.create_table(
        "margin_facilities",
        sa.Column("customer_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("decision_id", sa.String(64), nullable=False),
        _big("currency_ledger"),
        _big("line_minor"),
        sa.Column("annual_rate_bps", sa.Integer(), nullable=False),
        sa.Column("max_leverage_bps", sa.Integer(), nullable=False),
        sa.Column("regime", sa.String(8), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _big("opened_at_ns"),
    )
    op.create_table(
        "margin_instruments",
        sa.Column("instrument_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("symbol", sa.String(32), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("conversion_rate_bps", sa.Integer(), nullable=False),
        _big("adv_shares"),
        sa.Column("volatility_bps", sa.Integer(), nullable=False),
        _big("price_minor"),
        _big("price_as_of_ns"),
    )
    op.create_table(
        "margin_calls",
        sa.Column("call_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        _big("customer_id"),
        sa.Column("status", sa.String(16), nullable=False),
        _big("issued_at_ns"),
        _big("deadline_ns"),
        _big("ratio_at_issue_bps"),
        _big("required_minor"),
        _big("closed_at_ns"),
    )
    op.create_index("ix_margin_calls_customer", "margin_calls", ["customer_id", "status"])


def downgrade() -> None:
    for name in (
        "margin_calls",
        "margin_instruments",
        "margin_facilities",
        "decision_journal_head",
        "decision_journal",
        "ledger_pending",
        "ledger_transfers",
        "ledger_accounts",
    ):
        op.drop_table(name)
