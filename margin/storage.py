"""Margin-lending tables: facilities, the instrument master with last prices, margin calls.

They live in the service database beside the ledger's tables but have their own metadata
and migration chain (``margin/migrations``, version table ``alembic_version_margin``): the
ledger stays margin-agnostic. ``migrate`` brings the books (ledger chain, then margin chain)
to head. Money is integer minor units; ratios and rates are basis points.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    false,
    true,
)

from ledger import storage as ledger_storage

VERSION_TABLE = "alembic_version_margin"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

metadata = MetaData()

facilities = Table(
    "margin_facilities",
    metadata,
    Column("customer_id", BigInteger, primary_key=True, autoincrement=False),
    Column("decision_id", String(64), nullable=False),
    Column("currency_ledger", BigInteger, nullable=False),
    Column("line_minor", BigInteger, nullable=False),
    Column("annual_rate_bps", Integer, nullable=False),
    Column("max_leverage_bps", Integer, nullable=False),  # gross exposure / equity, 20000 = 2.0x
    Column("regime", String(8), nullable=False),
    Column("status", String(16), nullable=False),  # open / closed / written_off
    Column("opened_at_ns", BigInteger, nullable=False),
    # the grade tier's haircut add-on, fixed at opening; lowers every conversion rate of the account
    Column("haircut_addon_bps", Integer, nullable=False, server_default="0"),
)

instruments = Table(
    "margin_instruments",
    metadata,
    Column("instrument_id", BigInteger, primary_key=True, autoincrement=False),
    Column("symbol", String(32), nullable=False, unique=True),
    Column("kind", String(32), nullable=False),  # margin.instruments.KINDS (share, etf, government_bond …)
    Column("conversion_rate_bps", Integer, nullable=False),
    Column("adv_shares", BigInteger, nullable=False),
    Column("volatility_bps", Integer, nullable=False),  # daily return volatility
    Column("price_minor", BigInteger, nullable=False),  # last price per share, minor units
    Column("price_as_of_ns", BigInteger, nullable=False),
    # instrument master (margin/instruments.py): the conversion rate above is derived from these
    Column("board", String(8), nullable=False, server_default="main"),  # main / chinext / star / st
    Column("static_pe", Float, nullable=True),  # negative = loss-making; None = not published
    Column("index_constituent", Boolean, nullable=False, server_default=false()),
    Column("eligible_for_financing", Boolean, nullable=False, server_default=false()),
    Column("eligible_as_collateral", Boolean, nullable=False, server_default=true()),
)

margin_calls = Table(
    "margin_calls",
    metadata,
    Column("call_id", BigInteger, primary_key=True, autoincrement=False),
    Column("customer_id", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),  # open / met / liquidated
    Column("issued_at_ns", BigInteger, nullable=False),
    Column("deadline_ns", BigInteger, nullable=False),
    Column("ratio_at_issue_bps", BigInteger, nullable=False),
    Column("required_minor", BigInteger, nullable=False),
    Column("closed_at_ns", BigInteger, nullable=False),
    Index("ix_margin_calls_customer", "customer_id", "status"),
)

# Dynamic risk controls (issue 14, migration 0004): see margin/risk_store.py.
risk_events = Table(
    "margin_risk_events",
    metadata,
    Column("event_id", Integer, primary_key=True, autoincrement=True),
    Column("scope", String(64), nullable=False),  # "market" or "instrument:<symbol>"
    Column("version", Integer, nullable=False),
    Column("effective_ns", BigInteger, nullable=False),
    Column("observed_ns", BigInteger, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("value", String(32), nullable=False),
    Column("previous", String(32), nullable=False),
    Column("statistic", String(64), nullable=False),
    Column("statistic_value", Float, nullable=False),
    Column("threshold", Float, nullable=False),
    Column("reason", String(400), nullable=False),
    Column("policy_version", String(64), nullable=False),
    UniqueConstraint("scope", "version", name="uq_margin_risk_events_scope_version"),
    Index("ix_margin_risk_events_effective", "effective_ns"),
)

review_queue = Table(
    "margin_review_queue",
    metadata,
    Column("review_id", Integer, primary_key=True, autoincrement=True),
    Column("customer_id", BigInteger, nullable=False),
    Column("flagged_ns", BigInteger, nullable=False),
    Column("score", Float, nullable=False),
    Column("reasons", String(600), nullable=False),
    Column("leverage_multiplier_bps", Integer, nullable=False),
    Column("status", String(16), nullable=False),  # open / cleared
    Column("cleared_ns", BigInteger, nullable=False),  # 0 while open
    Column("cleared_by", String(64), nullable=False),
    Column("note", String(400), nullable=False),
    Index("ix_margin_review_queue_customer", "customer_id", "status"),
)

order_refusals = Table(
    "margin_order_refusals",
    metadata,
    Column("refusal_id", Integer, primary_key=True, autoincrement=True),
    Column("customer_id", BigInteger, nullable=False),
    Column("instrument_id", BigInteger, nullable=False),
    Column("at_ns", BigInteger, nullable=False),
    Column("reason_code", String(48), nullable=False),
    Column("detail", String(400), nullable=False),
)


def migrate(engine: Engine, revision: str = "head") -> None:
    """The books' schema: the ledger's chain to head, then the margin chain to ``revision``."""
    ledger_storage.migrate(engine)
    ledger_storage.migrate(engine, revision, migrations_dir=MIGRATIONS_DIR)


def default_engine() -> Engine:
    """The configured service database (``CREDITDESK_DB_URL`` or ``var/ledger.db``), books migrated."""
    engine = ledger_storage.configured_engine()
    migrate(engine)
    return engine
