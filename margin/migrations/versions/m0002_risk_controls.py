"""Dynamic risk controls in the books: risk events, the anomaly review queue, pre-trade refusals.

Until this chain existed the ledger's 0004 created these tables: a database migrated then
already holds them, so the step runs only when they are absent.

Revision ID: m0002
Revises: m0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "m0002"
down_revision = "m0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if "margin_risk_events" in sa.inspect(op.get_bind()).get_table_names():
        return
    op.create_table(
        "margin_risk_events",
        sa.Column("event_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("scope", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("effective_ns", sa.BigInteger, nullable=False),
        sa.Column("observed_ns", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("value", sa.String(32), nullable=False),
        sa.Column("previous", sa.String(32), nullable=False),
        sa.Column("statistic", sa.String(64), nullable=False),
        sa.Column("statistic_value", sa.Float, nullable=False),
        sa.Column("threshold", sa.Float, nullable=False),
        sa.Column("reason", sa.String(400), nullable=False),
        sa.Column("policy_version", sa.String(64), nullable=False),
        sa.UniqueConstraint("scope", "version", name="uq_margin_risk_events_scope_version"),
    )
    op.create_index("ix_margin_risk_events_effective", "margin_risk_events", ["effective_ns"])
    op.create_table(
        "margin_review_queue",
        sa.Column("review_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("customer_id", sa.BigInteger, nullable=False),
        sa.Column("flagged_ns", sa.BigInteger, nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("reasons", sa.String(600), nullable=False),
        sa.Column("leverage_multiplier_bps", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("cleared_ns", sa.BigInteger, nullable=False),
        sa.Column("cleared_by", sa.String(64), nullable=False),
        sa.Column("note", sa.String(400), nullable=False),
    )
    op.create_index("ix_margin_review_queue_customer", "margin_review_queue", ["customer_id", "status"])
    op.create_table(
        "margin_order_refusals",
        sa.Column("refusal_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("customer_id", sa.BigInteger, nullable=False),
        sa.Column("instrument_id", sa.BigInteger, nullable=False),
        sa.Column("at_ns", sa.BigInteger, nullable=False),
        sa.Column("reason_code", sa.String(48), nullable=False),
        sa.Column("detail", sa.String(400), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("margin_order_refusals")
    op.drop_index("ix_margin_review_queue_customer", "margin_review_queue")
    op.drop_table("margin_review_queue")
    op.drop_index("ix_margin_risk_events_effective", "margin_risk_events")
    op.drop_table("margin_risk_events")
