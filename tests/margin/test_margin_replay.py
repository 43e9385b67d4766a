"""The day-by-day replay on hand-made price paths: calls, top-ups, liquidation, gap losses."""

from __future__ import annotations

import numpy as np

from margin.engine import CN, Book
from margin.replay import replay, synthetic_book


def one_account(cash: float = 0.0, debt: float = 1_000.0, qty: float = 200.0) -> Book:
    return Book(np.array([cash]), np.array([debt]), np.array([0]), np.array([0]), np.array([qty]))


def run(path: list[float], topup: float, book: Book | None = None):
    close = np.array(path, dtype=float)[:, None]
    ones = np.ones_like(close)
    return replay(
        book or one_account(),
        close,
        ones * 1e9,
        ones * 0.01,
        np.array([0.7]),
        CN,
        topup_probability=topup,
        annual_rate=0.0,
    )


def test_call_met_by_a_topup_means_no_liquidation() -> None:
    # 200 shares: ratio 2.0 at 10, 1.2 at 6 (< 130 %: call), top-up arrives next day
    report = run([10, 6, 6, 6, 6], topup=1.0)
    assert report.calls_issued.tolist() == [0, 1, 0, 0, 0]
    assert report.topups_minor[2] == 1.5 * 1000 - 1200  # to 150 % of debt
    assert report.calls_met.sum() == 1 and report.liquidations_started.sum() == 0


def test_ignored_call_is_liquidated_at_the_deadline() -> None:
    report = run([10, 6, 6, 6, 6, 6], topup=0.0)
    assert report.calls_issued.tolist()[:2] == [0, 1]
    assert report.liquidations_started.tolist() == [0, 0, 0, 1, 0, 0]  # issued day 1, deadline day 3
    assert report.liquidated_value_minor[3] > 0 and report.loss_minor.sum() == 0
    assert report.book_ratio[3] >= 1.5 * 0.999


def test_gap_below_the_debt_is_written_off() -> None:
    report = run([10, 4], topup=0.0)  # 200 × 4 = 800 < 1000 owed: liquidate at once, sell all
    assert report.liquidations_started.tolist() == [0, 1]
    assert report.shortfalls.tolist() == [0, 1]
    assert 200 < report.loss_minor[1] < 205  # 1000 − 800 + the cost of selling


def test_synthetic_book_starts_above_the_warning_line() -> None:
    prices = np.linspace(5, 200, 50)
    b = synthetic_book(300, prices, seed=2)
    mv = np.bincount(b.pos_account, weights=b.pos_quantity * prices[b.pos_instrument], minlength=300)
    ratio = (b.cash + mv) / b.debt
    assert ratio.min() >= 1.5 and ratio.max() <= 1 + 1 / 0.3 + 1e-9  # (E + L) / L with L/E in [0.3, 1.8]
    assert (np.diff(b.pos_account) >= 0).all()
