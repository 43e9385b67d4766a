"""Margin facilities, the instrument master with last prices, margin calls.

Until this chain existed the ledger's chain created these tables (its 0001 and 0002): a
database migrated then already holds them, so each is created only when absent, and an
instrument ``kind`` still 16 characters wide (a database the ledger's 0002 never reached)
is widened to 32 ('index_constituent' has 17; PostgreSQL enforces the width).

Revision ID: m0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "m0001"
down_revision = None
branch_labels = None
depends_on = None


def _big(name: str, **kw: object) -> sa.Column:
    return sa.Column(name, sa.BigInteger(), nullable=False, **kw)  # type: ignore[arg-type]


def _kind_width(inspector: sa.Inspector) -> int:
    kind = next(c for c in inspector.get_columns("margin_instruments") if c["name"] == "kind")
    return int(getattr(kind["type"], "length", None) or 0)


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    existing = set(inspector.get_table_names())
    if "margin_facilities" not in existing:
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
    if "margin_instruments" not in existing:
        op.create_table(
            "margin_instruments",
            sa.Column("instrument_id", sa.BigInteger(), primary_key=True, autoincrement=False),
            sa.Column("symbol", sa.String(32), nullable=False, unique=True),
            sa.Column("kind", sa.String(32), nullable=False),
            sa.Column("conversion_rate_bps", sa.Integer(), nullable=False),
            _big("adv_shares"),
            sa.Column("volatility_bps", sa.Integer(), nullable=False),
            _big("price_minor"),
            _big("price_as_of_ns"),
        )
    elif 0 < _kind_width(inspector) < 32:
        with op.batch_alter_table("margin_instruments") as batch:
            batch.alter_column(
                "kind", existing_type=sa.String(16), type_=sa.String(32), existing_nullable=False
            )
    if "margin_calls" not in existing:
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
    for name in ("margin_calls", "margin_instruments", "margin_facilities"):
        op.drop_table(name)
