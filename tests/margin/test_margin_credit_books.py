"""Credit books on a real ledger: labels read back from the books equal a hand-built case."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine

from ledger.eod import reconcile
from ledger.service import Ledger
from ledger.unit_of_work import run_in_transaction
from margin.chart import Code, customer_account
from margin.credit_books import (
    CREDIT_EVENT,
    SHORTFALL,
    CreditBooksError,
    balances,
    plan_allowance,
    plan_default_mark,
    plan_line_change,
    plan_recovery,
    plan_repayment,
    post_in,
)
from margin.outcomes import labels_from_books, read_credit_transfers, read_facilities
from margin.service import MarginDesk
from monitoring.vintages import vintage_curves, vintages_json

CNY = 156
STOCK = 600519
D0 = dt.datetime(2020, 1, 2)


class Clock:
    """Business time set by the test: a day, plus a tick per call so stamps only increase
    (the ledger's own clock keeps stamps increasing, so the story is told in date order)."""

    def __init__(self) -> None:
        self.day = D0
        self.tick = 0

    def at(self, days: int) -> None:
        self.day = D0 + dt.timedelta(days=days)

    def __call__(self) -> int:
        self.tick += 1_000
        return int(pd.Timestamp(self.day).value) + self.tick


def post(engine: Engine, clock: Clock, transfers: list, customers: list[int]) -> None:
    run_in_transaction(engine, lambda uow: post_in(uow.ledger, transfers, clock(), customers, CNY))


def balance(engine: Engine, cid: int, code: Code) -> int:
    found = Ledger(engine).lookup_accounts([customer_account(cid, code)])
    return found[0].credits_posted - found[0].debits_posted if found else 0


def open_and_buy(desk: MarginDesk, cid: int) -> None:
    desk.open_facility(cid, f"dec-{cid}", line_minor=1_000_000, annual_rate_bps=730)
    assert desk.deposit(cid, f"dep-{cid}", 500_000).ok
    buy = desk.buy(cid, f"buy-{cid}", STOCK, 80, 10_000)  # 800,000: draws 300,000
    assert buy.ok and buy.details["loan_draw_minor"] == 300_000


def build_book(engine: Engine) -> Clock:
    clock = Clock()
    desk = MarginDesk(engine, clock)
    desk.upsert_instrument(STOCK, "600519.SH", "index_constituent", price_minor=10_000, adv_shares=10**7)
    for cid in (1, 2, 3):
        open_and_buy(desk, cid)
    # 1: the price gaps to 30.00; liquidating 80 shares (240,000) leaves a 60,000 shortfall,
    # unpaid past the 90-day cure period -> default (shortfall) on day 100, written off, then
    # 18,000 collected on day 160.
    clock.at(5)
    assert desk.sell(1, "liq-1", STOCK, 80, 3_000, liquidation=True).ok
    # 2: a credit event on day 30 with 300,000 drawn; the forced sale at 90.00 repays it all.
    clock.at(30)
    post(engine, clock, [plan_default_mark(2, 300_000, CREDIT_EVENT, CNY)], [2])
    assert desk.sell(2, "liq-2", STOCK, 80, 9_000, liquidation=True).ok
    assert desk.write_off(2, "wo-2").details["loss_minor"] == 0
    clock.at(100)
    post(engine, clock, [plan_default_mark(1, 60_000, SHORTFALL, CNY)], [1])
    assert desk.write_off(1, "wo-1").details["loss_minor"] == 60_000
    clock.at(160)
    post(engine, clock, [plan_recovery(1, "rec-1", 18_000, CNY)], [1])
    # 4 opens late: not yet observed for a year on day 400.
    clock.at(200)
    desk.open_facility(4, "dec-4", line_minor=100_000, annual_rate_bps=730)
    clock.at(400)
    return clock


def test_labels_from_the_books_equal_the_hand_built_case(engine: Engine) -> None:
    clock = build_book(engine)
    with engine.connect() as conn:
        labels = labels_from_books(read_credit_transfers(conn), read_facilities(conn), clock())
    got = labels.set_index("customer_id")
    assert got["matured"].tolist() == [True, True, True, False]
    assert got["default"].tolist() == [True, True, False, False]
    assert got["default_cause"].tolist() == ["shortfall", "credit_event", "none", "none"]
    assert str(got.loc[1, "default_day"].date()) == "2020-04-11"  # day 100
    assert got["ead_minor"].tolist() == [60_000, 300_000, 0, 0]
    assert got["written_off_minor"].tolist() == [60_000, 0, 0, 0]
    assert got["loss_minor"].tolist() == [42_000, 0, 0, 0]
    assert got["recovery_minor"].tolist() == [18_000, 300_000, 0, 0]
    assert reconcile(engine).ok


def test_a_default_after_the_horizon_is_not_a_twelve_month_default(engine: Engine) -> None:
    clock = build_book(engine)
    with engine.connect() as conn:
        labels = labels_from_books(
            read_credit_transfers(conn), read_facilities(conn), clock(), horizon_days=60
        )
    assert labels.set_index("customer_id")["default"].tolist() == [False, True, False, False]


def test_allowance_moves_to_its_target_and_nets_the_exposure(engine: Engine) -> None:
    clock = build_book(engine)

    def allowance() -> int:
        return run_in_transaction(engine, lambda uow: balances(uow.ledger, [3], Code.LOAN_ALLOWANCE))[3]

    post(engine, clock, plan_allowance([3], [5_000], [0], CNY, 20210131), [3])
    assert allowance() == 5_000
    post(engine, clock, plan_allowance([3], [3_000], [5_000], CNY, 20210228), [3])
    assert allowance() == 3_000
    loan = -balance(engine, 3, Code.MARGIN_LOAN)
    assert loan - allowance() == 297_000  # net exposure in the books
    assert reconcile(engine).ok


def test_collection_repayment_and_line_change(engine: Engine) -> None:
    clock = build_book(engine)
    desk = MarginDesk(engine, clock)
    assert desk.deposit(3, "topup", 100_000).ok
    post(engine, clock, plan_repayment(3, "c1", 100_000, 0, 300_000, CNY), [3])
    assert balance(engine, 3, Code.MARGIN_LOAN) == -200_000
    assert balance(engine, 3, Code.CREDIT_LINE) == 800_000
    change = plan_line_change(3, "review-1", 1_000_000, 500_000, CNY)
    assert change is not None
    post(engine, clock, [change], [3])
    assert balance(engine, 3, Code.CREDIT_LINE) == 300_000  # 500,000 line, 200,000 drawn
    too_deep = plan_line_change(3, "review-2", 500_000, 100_000, CNY)  # below what is drawn
    assert too_deep is not None
    with pytest.raises(CreditBooksError, match="exceeds_credits"):
        post(engine, clock, [too_deep], [3])
    assert reconcile(engine).ok


def test_vintage_curves_by_months_on_book() -> None:
    labels = pd.DataFrame(
        {
            "opened_day": pd.to_datetime(
                ["2020-01-10", "2020-01-15", "2020-01-20", "2020-01-25", "2020-03-05"]
            ),
            "default_day": pd.to_datetime(["2020-02-01", None, "2020-04-25", None, "2020-03-20"]),
        }
    )
    curves = vintage_curves(labels, pd.Timestamp("2020-05-10"), max_months=6)
    # Jan cohort (4 lines): one default in month 0 (within 1 month), another in month 3
    # (within 4); observed for 3 full months by 10 May (the youngest line opened 25 Jan).
    np.testing.assert_allclose(curves.loc["2020-01"].to_numpy()[:3], [0.25, 0.25, 0.25])
    assert np.isnan(curves.loc["2020-01", 4])
    assert curves.loc["2020-03", 1] == 1.0 and np.isnan(curves.loc["2020-03", 3])
    assert vintages_json(curves) == {"2020-01": [0.25, 0.25, 0.25], "2020-03": [1.0, 1.0]}
