"""Concentration limits by maintenance-ratio tier, platform exposure, and wash-trade refusals."""

from __future__ import annotations

import numpy as np
import pandas as pd

from margin.concentration import (
    ACCOUNT_LIMIT,
    PLATFORM_ADV,
    PLATFORM_FLOAT,
    VOLATILITY_FREEZE,
    book_concentration,
    check_buy,
    tier_limit,
)
from margin.controls_policy import RiskControlsPolicy
from margin.engine import Book
from margin.wash import BUY, ROUND_TRIP, SELF_CROSS, SELL, Fill, Order, check_order, round_trips

CONC = RiskControlsPolicy().concentration
NAN = float("nan")


def test_tier_limits_golden() -> None:
    # Source: issue 14 / DESIGN.md "Concentration" (broker configuration): ≥ 240 % unrestricted,
    # 180–240 % one name ≤ 70 %, < 180 % one name ≤ 50 %.
    assert tier_limit(np.array([np.inf, 2.4, 2.39, 1.8, 1.79, 1.2]), CONC).tolist() == [
        1.0,
        1.0,
        0.7,
        0.7,
        0.5,
        0.5,
    ]


def buy(holdings: dict[int, float], cash: float, debt: float, amount: float, financed: float, **kw):
    args = {"platform_exposure": 0.0, "money_adv": 1e12, "float_value": NAN, "policy": CONC}
    args.update(kw)
    return check_buy(holdings, cash, debt, 1, amount, financed, **args)


def test_a_buy_that_concentrates_a_weak_account_is_refused() -> None:
    # after the buy: MV 1,000 + 600 = 1,600 of which name 1 = 600 + 400 = 1,000 (62.5 %);
    # debt 1,000 → ratio (0 + 1,600) / 1,000 = 160 % → tier < 180 %: limit 50 %
    res = buy({0: 600.0, 1: 400.0}, cash=600.0, debt=1000.0, amount=600.0, financed=0.0)
    assert not res.ok and res.code == ACCOUNT_LIMIT
    # the same buy by an account without debt is unrestricted
    assert buy({0: 600.0, 1: 400.0}, cash=600.0, debt=0.0, amount=600.0, financed=0.0).ok
    # a small buy that keeps name 1 under 50 % passes
    assert buy({0: 600.0, 1: 400.0}, cash=600.0, debt=1000.0, amount=100.0, financed=0.0).ok


def test_platform_exposure_and_freeze_stop_financed_buys_only() -> None:
    holdings = {0: 1000.0, 2: 1000.0, 3: 1000.0}
    # ADV capacity = 25 % × 20 days × 1,000 = 5,000; exposure 4,900 + 200 > 5,000
    res = buy(holdings, 5000.0, 100.0, 200.0, 200.0, platform_exposure=4900.0, money_adv=1000.0)
    assert res.code == PLATFORM_ADV
    assert buy(holdings, 5000.0, 100.0, 200.0, 0.0, platform_exposure=4900.0, money_adv=1000.0).ok
    res = buy(holdings, 5000.0, 100.0, 200.0, 200.0, platform_exposure=0.0, float_value=3000.0)
    assert res.code == PLATFORM_FLOAT  # 200 > 5 % of 3,000
    assert buy(holdings, 5000.0, 100.0, 200.0, 200.0, frozen=True).code == VOLATILITY_FREEZE
    assert buy(holdings, 5000.0, 100.0, 200.0, 0.0, frozen=True).ok  # own-cash buys stay open


def test_book_concentration_report() -> None:
    book = Book(
        cash=np.array([0.0, 0.0]),
        debt=np.array([1000.0, 0.0]),
        pos_account=np.array([0, 0, 1]),
        pos_instrument=np.array([0, 1, 1]),
        pos_quantity=np.array([100.0, 60.0, 10.0]),
    )
    prices = np.array([10.0, 10.0])
    frame = book_concentration(
        book, prices, np.array(["A", "B"]), np.array([1e6, 100.0]), np.array([NAN, NAN]), CONC
    )
    a = frame.set_index("symbol")
    assert (
        a.loc["A", "exposure_minor"] == 1000.0 and a.loc["B", "exposure_minor"] == 600.0
    )  # account 1 owes nothing
    assert a.loc["A", "accounts_over_limit"] == 1  # 1,000 / 1,600 = 62.5 % at a 160 % ratio > 50 %
    assert bool(a.loc["B", "financed_buys_stopped"])  # 600 > 25 % × 20 × 100 = 500


def test_an_order_crossing_the_accounts_own_resting_order_is_refused() -> None:
    resting = [Order(7, 3, SELL, 100, 10.00, 0)]
    res = check_order(Order(7, 3, BUY, 100, 10.05, 10), resting, [], 300)
    assert not res.ok and res.code == SELF_CROSS
    assert check_order(Order(7, 3, BUY, 100, 9.95, 10), resting, [], 300).ok  # does not cross
    assert check_order(Order(8, 3, BUY, 100, 10.05, 10), resting, [], 300).ok  # another account
    assert check_order(Order(7, 3, BUY, 100, None, 10), resting, [], 300).code == SELF_CROSS  # market order


def test_a_round_trip_inside_the_window_is_refused() -> None:
    fills = [Fill(3, BUY, 0)]
    s = 1_000_000_000
    res = check_order(Order(7, 3, SELL, 100, 10.0, 299 * s), [], fills, 300)
    assert not res.ok and res.code == ROUND_TRIP
    assert check_order(Order(7, 3, SELL, 100, 10.0, 301 * s), [], fills, 300).ok
    assert check_order(Order(7, 4, SELL, 100, 10.0, 10 * s), [], fills, 300).ok  # another name
    log = pd.DataFrame(
        {
            "account": [1, 1, 1, 2],
            "instrument": [5, 5, 5, 5],
            "side": [1, -1, 1, -1],
            "time_ns": [0, 10 * s, 900 * s, 5 * s],
        }
    )
    assert round_trips(log, 300).time_ns.tolist() == [10 * s]
