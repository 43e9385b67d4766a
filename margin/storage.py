"""Margin-lending tables: facilities, the instrument master with last prices, margin calls.

They live in the service database beside the ledger and share its migration history
(``ledger/migrations``); they are declared on the ledger's ``metadata`` so one schema check
covers all of them. Money is integer minor units; ratios and rates are basis points.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table

from ledger.storage import metadata

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
)

instruments = Table(
    "margin_instruments",
    metadata,
    Column("instrument_id", BigInteger, primary_key=True, autoincrement=False),
    Column("symbol", String(32), nullable=False, unique=True),
    Column("kind", String(32), nullable=False),  # index_constituent / share / etf / bond / flagged
    Column("conversion_rate_bps", Integer, nullable=False),
    Column("adv_shares", BigInteger, nullable=False),
    Column("volatility_bps", Integer, nullable=False),  # daily return volatility
    Column("price_minor", BigInteger, nullable=False),  # last price per share, minor units
    Column("price_as_of_ns", BigInteger, nullable=False),
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
