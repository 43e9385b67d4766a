"""Trades as facts: legs joined by the trade id, whatever their order in the chain."""

from __future__ import annotations

from sqlalchemy import Engine

from ledger.domain import Transfer, TransferFlags
from ledger.service import Ledger
from margin.chart import (
    Code,
    TransferCode,
    clearing_securities_account,
    customer_account,
    platform_account,
)
from margin.service import MarginDesk
from margin.trades import trades_before
from tests.margin.margin_support import Clock

CID, STOCK = 42, 600519
LATER = 2**62


def test_desk_trades_come_back_with_quantity_gross_and_fee(engine: Engine) -> None:
    desk = MarginDesk(engine, Clock(step_ns=1_000))
    desk.upsert_instrument(STOCK, "600519.SH", "index_constituent", price_minor=10_000)
    desk.open_facility(CID, "dec-1", line_minor=1_000_000, annual_rate_bps=730)
    desk.deposit(CID, "dep-1", 500_000)
    assert desk.buy(CID, "b1", STOCK, 80, 10_000, fee_minor=100).ok  # draws on the line: 5 legs
    assert desk.sell(CID, "s1", STOCK, 50, 10_500, fee_minor=50).ok  # repays the loan: 6 legs
    with engine.connect() as conn:
        found = trades_before(conn, CID, LATER, max_trades=10)
    assert found.side.tolist() == ["buy", "sell"]
    assert found.quantity.tolist() == [80, 50] and found.instrument_id.tolist() == [STOCK, STOCK]
    assert found.gross_minor.tolist() == [800_000, 525_000] and found.fee_minor.tolist() == [100, 50]
    with engine.connect() as conn:  # the bound keeps the newest
        assert trades_before(conn, CID, LATER, max_trades=1).side.tolist() == ["sell"]


def test_a_chain_with_its_legs_in_another_order_is_the_same_trade(engine: Engine) -> None:
    """The old reader looked for the cash leg one or two timestamps before the shares: not here."""
    desk = MarginDesk(engine, Clock(step_ns=1_000))
    desk.upsert_instrument(STOCK, "600519.SH", "index_constituent", price_minor=10_000)
    desk.open_facility(CID, "dec-1", line_minor=1_000_000, annual_rate_bps=730)
    desk.deposit(CID, "dep-1", 500_000)
    assert desk.buy(CID, "b0", STOCK, 1, 10_000).ok  # opens the position and clearing accounts
    sec = clearing_securities_account(STOCK)
    cash = customer_account(CID, Code.CUSTOMER_CASH)
    trade = 777
    linked = int(TransferFlags.LINKED)
    chain = [  # shares first, then the fee, then the cash: a different venue adapter's order
        Transfer(9001, customer_account(CID, Code.SECURITIES, STOCK), sec.id, 30, sec.ledger,
                 int(TransferCode.TRADE_SECURITIES), linked, user_data=trade),
        Transfer(9002, cash, platform_account(Code.FEE_INCOME, 156), 70, 156, int(TransferCode.FEE), linked,
                 user_data=trade),
        Transfer(9003, cash, platform_account(Code.CLEARING_CASH, 156), 300_000, 156,
                 int(TransferCode.TRADE_CASH), user_data=trade),
    ]  # fmt: skip
    assert [r.value for r in Ledger(engine, Clock(step_ns=1_000)).create_transfers(chain)] == ["ok"] * 3
    with engine.connect() as conn:
        found = trades_before(conn, CID, LATER, max_trades=10)
    assert found.trade_id.tolist()[-1] == trade
    assert (found.quantity[-1], found.gross_minor[-1], found.fee_minor[-1]) == (30, 300_000, 70)
