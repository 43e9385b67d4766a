"""Margin-lending operations on a real ledger: every step balances and the margin rules hold."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine, select

from creditdesk.errors import InputError
from ledger.service import Ledger
from margin.chart import Code, customer_account, platform_account
from margin.eod import reconcile_books
from margin.service import MarginDesk
from margin.storage import margin_calls
from tests.margin.margin_support import Clock

CID = 42
STOCK = 600519


def balance(engine: Engine, code: Code, sub: int = 0) -> int:
    acct = Ledger(engine).lookup_accounts([customer_account(CID, code, sub)])[0]
    return acct.credits_posted - acct.debits_posted


def setup_desk(engine: Engine) -> tuple[MarginDesk, Clock]:
    clock = Clock()
    desk = MarginDesk(engine, clock)
    desk.upsert_instrument(STOCK, "600519.SH", "index_constituent", price_minor=10_000, adv_shares=10**7)
    fac = desk.open_facility(CID, "dec-1", line_minor=1_000_000, annual_rate_bps=730)
    assert fac.status == "open" and desk.open_facility(CID, "dec-1", 1_000_000, 730) == fac
    assert desk.deposit(CID, "dep-1", 500_000).ok
    return desk, clock


def test_buy_on_margin_is_one_chain_and_sell_repays_first(engine: Engine) -> None:
    desk, _ = setup_desk(engine)
    # 80 shares at 100.00 = 800,000 + fee 100: draw 300,100 on the line
    buy = desk.buy(CID, "b1", STOCK, 80, 10_000, fee_minor=100)
    assert buy.ok and buy.details["loan_draw_minor"] == 300_100
    assert balance(engine, Code.CUSTOMER_CASH) == 0
    assert balance(engine, Code.MARGIN_LOAN) == -300_100
    assert balance(engine, Code.CREDIT_LINE) == 1_000_000 - 300_100
    assert balance(engine, Code.SECURITIES, STOCK) == -80  # debit balance: 80 shares held
    assert desk.buy(CID, "b1", STOCK, 80, 10_000, fee_minor=100).details == {"replayed": True}
    assert desk.buy(CID, "b1", STOCK, 81, 10_000, fee_minor=100).reason == "exists_with_different_body"
    # cn: 0.7 × (800,000 − 300,100) − 300,100 = 49,830 ≥ 0 was allowed; 10 more shares on credit:
    # 0.7 × (900,000 − 400,100) − 400,100 < 0 is refused
    refused = desk.buy(CID, "b2", STOCK, 10, 10_000)
    assert not refused.ok and refused.reason == "initial_margin_not_met"
    assert reconcile_books(engine).ok
    sell = desk.sell(CID, "s1", STOCK, 50, 10_000, fee_minor=50)
    assert sell.ok and sell.details == {
        "gross_minor": 500_000,
        "interest_repaid_minor": 0,
        "loan_repaid_minor": 300_100,
    }
    assert balance(engine, Code.MARGIN_LOAN) == 0 and balance(engine, Code.CREDIT_LINE) == 1_000_000
    assert balance(engine, Code.CUSTOMER_CASH) == 500_000 - 50 - 300_100
    no_shares = desk.sell(CID, "s2", STOCK, 31, 10_000)
    assert not no_shares.ok and no_shares.reason == "exceeds_debits"  # cannot sell shares not held
    report = reconcile_books(engine)
    assert report.ok, report.breaks


def test_line_limit_is_enforced_by_the_ledger(engine: Engine) -> None:
    desk, _ = setup_desk(engine)
    desk.open_facility(7, "dec-7", line_minor=100, annual_rate_bps=500, max_leverage_bps=100_000)
    desk.deposit(7, "d", 1_000_000)
    result = desk.buy(7, "b", STOCK, 101, 10_000)  # draws 10,000 > line of 100
    assert not result.ok and result.reason == "exceeds_credits"
    assert Ledger(engine).lookup_accounts([customer_account(7, Code.MARGIN_LOAN)])[0].debits_posted == 0


def test_interest_accrues_once_per_day_and_eod_checks_it(engine: Engine) -> None:
    desk, _ = setup_desk(engine)
    assert desk.buy(CID, "b1", STOCK, 80, 10_000).ok  # loan 300,000
    day = dt.date(2026, 1, 20)
    assert reconcile_books(engine, dt.date(2026, 1, 20)).breaks[0].kind == "interest"  # not accrued yet
    assert desk.accrue_interest(day) == 1
    assert desk.accrue_interest(day) == 0  # idempotent per customer and day
    # ACT/360 (CNY contract convention, creditdesk.daycount): 300,000 × 7.30 % / 360 = 60.83 -> 61
    assert balance(engine, Code.ACCRUED_INTEREST) == -61
    income = Ledger(engine).lookup_accounts([platform_account(Code.INTEREST_INCOME, 156)])[0]
    assert income.credits_posted == 61
    report = reconcile_books(engine, dt.date(2026, 1, 20))
    assert report.ok and report.extra["interest_accruals"] == 1
    desk.sell(CID, "s1", STOCK, 10, 10_000)
    assert balance(engine, Code.ACCRUED_INTEREST) == 0  # interest repaid before principal


def test_withdrawal_rule_and_bad_input(engine: Engine) -> None:
    desk, _ = setup_desk(engine)
    assert desk.buy(CID, "b1", STOCK, 60, 10_000).ok  # cost 600,000: loan 100,000, cash 0
    desk.deposit(CID, "d2", 150_000)
    # ratio = (150,000 + 600,000) / 100,000 = 7.5: withdrawable = 750,000 − 300,000 capped at cash 150,000
    assert desk.margin(CID).withdrawable_minor == 150_000
    assert desk.withdraw(CID, "w1", 150_000).ok
    over = desk.withdraw(CID, "w2", 1)
    assert not over.ok and over.reason == "withdrawal_rule"
    with pytest.raises(InputError, match="amount_minor"):
        desk.deposit(CID, "d3", 0)
    with pytest.raises(InputError, match="facility"):
        desk.deposit(999, "d", 10)
    with pytest.raises(InputError, match="decision"):
        desk.open_facility(CID, "another-decision", 10, 10)
    assert reconcile_books(engine).ok


def test_mark_to_market_call_deadline_liquidation_and_write_off(engine: Engine) -> None:
    desk, clock = setup_desk(engine)
    assert desk.buy(CID, "b1", STOCK, 70, 10_000).ok  # MV 700,000, loan 200,000: ratio 350 %
    assert desk.margin(CID).status == "ok"
    first = desk.mark_to_market({STOCK: 3_500})  # ratio 245,000 / 200,000 = 122.5 % < 130 %
    assert first.calls_issued == [CID] and first.statuses[CID] == "call" and first.to_liquidate == []
    view = desk.margin(CID)
    assert view.ratio == pytest.approx(1.225) and view.topup_minor == 55_000  # 1.5 × 200,000 − 245,000
    clock.ns += 3 * 86_400 * 10**9
    second = desk.mark_to_market({STOCK: 3_500})
    assert second.to_liquidate == [CID] and second.calls_issued == []
    gap = desk.mark_to_market({STOCK: 2_500})  # a gap: 175,000 of shares for 200,000 owed
    assert gap.statuses[CID] == "liquidate"
    assert desk.sell(CID, "liq-1", STOCK, 70, 2_500, liquidation=True).ok
    desk.close_call(CID)
    result = desk.write_off(CID, "wo-1")
    assert result.ok and result.details["loss_minor"] == 25_000
    assert balance(engine, Code.MARGIN_LOAN) == 0
    loss = Ledger(engine).lookup_accounts([platform_account(Code.LOSS_WRITE_OFF, 156)])[0]
    assert loss.debits_posted == 25_000
    with engine.connect() as conn:
        assert conn.execute(select(margin_calls.c.status)).scalars().all() == ["liquidated"]
    assert reconcile_books(engine).ok


def test_top_up_meets_the_call(engine: Engine) -> None:
    desk, _ = setup_desk(engine)
    desk.buy(CID, "b1", STOCK, 70, 10_000)
    assert desk.mark_to_market({STOCK: 3_500}).calls_issued == [CID]
    desk.deposit(CID, "topup", 55_000)  # back to exactly 150 %
    assert desk.mark_to_market({STOCK: 3_500}).calls_met == [CID]
