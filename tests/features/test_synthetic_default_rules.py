"""The generator's default definition and cn price limits (issue 13), on a hand-made book.

Sources: default = a shortfall unpaid 90 days past due or a credit event (DESIGN.md
"Defaults, exposure and pricing conventions"; Basel II para 452, CRE36.69: 90 days past
due); a forced sale that repays the loan is not a default. cn daily price limits: SSE/SZSE
trading rules (涨跌幅限制) ±10 % main board, ±20 % ChiNext/STAR; a name at limit-down cannot
be sold that day, the liquidation rolls to the next.
"""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from features import synthetic as syn

H = syn.HORIZON_DAYS


def _book(port_ret: np.ndarray, locked: np.ndarray, cured: bool, **config: Any) -> syn._MarginAccounts:
    """One account: 100 of own money + 100 of loan in one name; prices from ``port_ret``."""
    dates = np.arange("2020-01-01", "2022-01-01", dtype="datetime64[D]")[: H + 200]
    market = SimpleNamespace(
        dates=dates, calendar_days=np.ones(len(dates), dtype=np.int64), vol_score=np.zeros(1)
    )
    basket = SimpleNamespace(
        equity=np.array([100.0]), weights=np.ones((1, 1)), basket=np.zeros((1, 1), dtype=np.int64)
    )
    behaviour = syn._Behaviour(
        drawn0=np.array([100.0]),
        extra_total=np.zeros(1),
        p_meet=np.zeros(1),
        credit_day=np.array([H + 10]),
        meet_draw=np.ones((1, 4)),  # every call unmet -> forced liquidation at the deadline
        cured=np.array([cured]),
    )
    cfg = replace(syn.PopulationConfig(), **config)
    return syn._MarginAccounts(basket, behaviour, port_ret, locked, np.array([0]), market, cfg)  # type: ignore[arg-type]


def _run(book: syn._MarginAccounts) -> syn._MarginAccounts:
    for t in range(1, H + 1):
        book.day(t)
    return book


def _fall(days: dict[int, float]) -> np.ndarray:
    ret = np.zeros((H, 1))
    for day, r in days.items():
        ret[day - 1, 0] = r
    return ret


def test_a_forced_sale_that_repays_the_loan_is_not_a_default() -> None:
    # 200 of shares, loan 100: a 40 % fall -> ratio 120/100 < 130 % -> call, unmet, sold at
    # ~120: the loan is repaid in full. Liquidated, not defaulted, no loss.
    book = _run(_book(_fall({10: -0.40}), np.zeros((H, 1)), cured=False))
    assert book.liquidated[0] and not book.default[0]
    assert book.loss[0] == 0 and book.ead[0] == 0 and book.cause[0] == "none"


def test_an_unpaid_shortfall_defaults_after_the_cure_period() -> None:
    # a 55 % gap: shares 90 against a loan of 100 -> a shortfall the customer does not pay
    book = _run(_book(_fall({10: -0.55}), np.zeros((H, 1)), cured=False))
    assert book.default[0] and book.cause[0] == "margin_shortfall"
    # call on day 10, deadline day 12; a one-name basket is sold in three daily slices
    # (days 13-15), then the shortfall is due: default 90 calendar days (= days here) later
    sold_day = 15
    assert book.default_day[0] == sold_day + 90
    assert 0 < book.ead[0] < 20  # the unpaid shortfall (plus interest), not the whole loan
    cured = _run(_book(_fall({10: -0.55}), np.zeros((H, 1)), cured=True))
    assert cured.liquidated[0] and not cured.default[0]  # paid within the cure period


def test_the_cure_period_is_configurable() -> None:
    book = _run(_book(_fall({10: -0.55}), np.zeros((H, 1)), cured=False, cure_period_days=30))
    assert book.default[0] and book.default_day[0] == 15 + 30


def test_a_limit_down_name_cannot_be_sold_that_day() -> None:
    # SSE/SZSE: a 25 % fall on a main-board name is three limit days: 100 -> 90 -> 81 -> 75,
    # locked at limit-down on the first two
    close = np.array([[100.0], [75.0], [75.0], [75.0], [75.0]])
    returns, locked = syn._price_limited(close, np.array([False]), syn.PopulationConfig())
    assert np.allclose(returns[1:4, 0], [-0.10, -0.10, 75 / 81 - 1])
    assert locked[:, 0].tolist() == [False, True, True, False, False]
    # the same fall on a growth board (±20 %): one locked day
    _, growth_locked = syn._price_limited(close, np.array([True]), syn.PopulationConfig())
    assert growth_locked[:, 0].tolist() == [False, True, False, False, False]


def test_a_locked_liquidation_rolls_to_the_next_day() -> None:
    ret = _fall({10: -0.40})
    locked = np.zeros((H, 1))
    locked[12, 0] = 1.0  # day 13, the first day of the sale: the whole basket sits at limit-down
    book = _run(_book(ret, locked, cured=False))
    free = _run(_book(ret, np.zeros((H, 1)), cured=False))
    assert free.liquidated[0] and book.liquidated[0]
    # the locked book held its shares one more day: interest accrued one day longer
    assert book.interest[0] > free.interest[0]


def test_interest_accrues_act_360_per_calendar_day() -> None:
    book = _book(np.zeros((H, 1)), np.zeros((H, 1)), cured=False)
    book.day(1)
    # loan 100 at 8 % for one calendar day, ACT/360 (creditdesk.daycount)
    assert book.interest[0] == pytest.approx(100 * 0.08 / 360)
