"""The day-by-day replay on hand-made price paths: calls, top-ups, liquidation, gap losses."""

from __future__ import annotations

import numpy as np
import pytest

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


def test_limit_down_day_is_unsellable_and_liquidation_rolls_to_the_next_day() -> None:
    # Source: SSE/SZSE 交易规则 涨跌幅限制 (main board ±10 %): a name closing at limit-down cannot be
    # sold that day; the forced sale waits for the next session.
    # 200 shares, 1,000 owed: at 5.8 the ratio is 1.16; the real close falls to 5.0 at once.
    book = one_account(debt=1_000.0, qty=200.0)
    close = np.array([5.8, 5.0, 5.0, 5.0])[:, None]
    ones = np.ones_like(close)
    args = (book, close, ones * 1e9, ones * 0.01, np.array([0.7]), CN)
    free = replay(*args, topup_probability=0.0, annual_rate=0.0)
    assert free.liquidations_started.tolist() == [0, 1, 0, 0] and free.liquidated_value_minor[1] > 0
    limited = replay(*args, topup_probability=0.0, annual_rate=0.0, price_limit=0.10)
    # day 1 closes at the limit 5.22 (ratio 1.044 < 1.1 floor: liquidate) but is locked: nothing sold
    assert limited.liquidations_started.tolist() == [0, 1, 0, 0]
    assert limited.locked_names.tolist() == [0, 1, 0, 0]
    assert limited.liquidated_value_minor[1] == 0
    assert limited.liquidated_value_minor[2] > 0  # 5.22 × 0.9 = 4.70 < 5.0: trades again, sold


def test_replay_interest_act360_every_calendar_day() -> None:
    # Source: CNY margin contract convention, ACT/360 charged per calendar day (creditdesk.daycount):
    # ¥1,000,000 at 8.35 % from Friday to Monday = 3 days = ¥695.83 (one trading-day step).
    book = one_account(debt=1_000_000.0, qty=1_000_000.0)
    close = np.array([10.0, 10.0])[:, None]
    ones = np.ones_like(close)
    dates = np.array(["2026-11-20", "2026-11-23"], dtype="datetime64[D]")
    report = replay(
        book, close, ones * 1e9, ones * 0.01, np.array([0.7]), CN, annual_rate=0.0835, dates=dates
    )
    assert report.totals["interest_minor"] == pytest.approx(1_000_000 * 0.0835 * 3 / 360)
