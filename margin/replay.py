"""Replay a book of margin accounts through a real price history, one trading day at a time.

Each day: mark to market, advance the margin-call lifecycle (issue, met, deadline), let
customers who were called top up (with a fixed probability, decided when the call is
issued, paid the next day), execute one stage of each liquidation plan (sales capped at a
share of average daily volume, with square-root slippage), accrue interest, and write off
the debt of any account whose collateral is gone. The result is a day-by-day account of
calls, liquidations, shortfalls and losses — what the risk committee asks after a crash.

Interest accrues on every calendar day between two rows (ACT/360, ``creditdesk.daycount``):
a weekend charges three days, as the contract does. With daily price limits (``cn``), the
closes are replayed under the limits (``creditdesk.price_limits.limit_path``) and a name
closing at limit-down cannot be sold that day: its share of a liquidation waits for the
next session.

Simplifications, stated so nobody mistakes them for features: every account sells into
the market independently (the ADV cap is per account, not shared); customers do not trade
except to top up; prices are daily closes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from creditdesk.daycount import year_fraction
from creditdesk.errors import InputError
from creditdesk.price_limits import limit_path
from margin.engine import Book, Evaluation, Regime, Status, evaluate, no_calls, step_calls
from margin.replay_sales import Market, ReplayState, plan_liquidations, sell_day
from margin.schedules import SchedulePolicy


def synthetic_book(
    n_accounts: int,
    prices: np.ndarray,
    seed: int = 7,
    positions: tuple[int, int] = (3, 10),
    loan_to_equity: tuple[float, float] = (0.3, 1.8),
    median_equity_minor: float = 20_000_000.0,
) -> Book:
    """A seasoned book, fully invested on margin: equity E, loan L = u·E.

    New contracts start with u well below 1 (the cn initial rule), but a book that has lived
    through ordinary markets holds accounts whose collateral has fallen since: u up to 1.8
    (a maintenance ratio down to about 156 %) stands for them. Each holds 3–10 distinct names
    with Dirichlet(1) weights, so some are concentrated. Positions are sorted by account
    (``replay`` relies on it).
    """
    rng = np.random.default_rng(seed)
    n_instruments = len(prices)
    equity = median_equity_minor * np.exp(rng.normal(0.0, 0.8, n_accounts))
    loan = equity * rng.uniform(*loan_to_equity, n_accounts)
    k = rng.integers(positions[0], positions[1] + 1, n_accounts)
    k = np.minimum(k, n_instruments)
    pos_account = np.repeat(np.arange(n_accounts), k)
    pos_instrument = np.concatenate([rng.choice(n_instruments, size=kk, replace=False) for kk in k])
    weights = np.concatenate([rng.dirichlet(np.ones(kk)) for kk in k])
    gross = (equity + loan)[pos_account]
    quantity = np.floor(weights * gross / prices[pos_instrument])
    invested = np.bincount(pos_account, weights=quantity * prices[pos_instrument], minlength=n_accounts)
    cash = np.maximum(equity + loan - invested, 0.0)  # what the whole-share rounding leaves in cash
    return Book(cash, loan.copy(), pos_account, pos_instrument.astype(np.int64), quantity)


@dataclass
class ReplayReport:
    day_index: np.ndarray
    warnings: np.ndarray
    in_call: np.ndarray
    calls_issued: np.ndarray
    calls_met: np.ndarray
    liquidations_started: np.ndarray
    liquidating: np.ndarray
    liquidated_value_minor: np.ndarray
    slippage_minor: np.ndarray  # spread + impact paid on the day's sales
    shortfalls: np.ndarray  # accounts written off that day
    loss_minor: np.ndarray  # debt written off that day
    book_ratio: np.ndarray  # (Σ cash + Σ market value) / Σ debt
    topups_minor: np.ndarray
    locked_names: np.ndarray  # instruments at limit-down (unsellable) that day
    # implementation shortfall of the day's child orders against their parent's arrival price:
    expected_shortfall_minor: np.ndarray  # what the schedule expected (its √-law cost)
    realised_shortfall_minor: np.ndarray  # what the price path and the day's volume gave
    totals: dict[str, float] = field(default_factory=dict)


def replay(
    book: Book,
    close: np.ndarray,
    adv_shares: np.ndarray,
    volatility: np.ndarray,
    conversion_rate: np.ndarray,
    reg: Regime,
    topup_probability: float = 0.5,
    annual_rate: float = 0.08,
    adv_share: float = 0.10,
    seed: int = 11,
    dates: np.ndarray | None = None,
    price_limit: np.ndarray | float | None = None,
    day_count: str = "ACT/360",
    controls: Callable[[int], tuple[np.ndarray, Regime]] | None = None,
    schedule: SchedulePolicy | None = None,
    day_volume_shares: np.ndarray | None = None,
) -> ReplayReport:
    """Run ``book`` through ``close`` [days × instruments]; day 0 is the starting mark.

    ``dates`` (one per row) set the calendar days each step accrues; without them each row
    is one calendar day. ``price_limit`` (per instrument, a fraction) turns on the cn daily
    limits: marks follow the limited path and limit-down names cannot be sold that day.
    ``controls(d)``, when given, returns day d's conversion rates and regime (dynamic margin
    from risk events, ``margin.dynamic.DailyControls.on``); otherwise both stay fixed.
    Liquidations run as schedules (``schedule``; default: POV below the floor, VWAP at a
    missed deadline, the book sharing ``adv_share`` of each name's day volume);
    ``day_volume_shares`` is the volume each day really traded (default: the ADV).
    """
    policy = schedule or SchedulePolicy(participation=adv_share)
    rng = np.random.default_rng(seed)
    elapsed_days = _calendar_days(dates, close.shape[0])
    locked = np.zeros(close.shape, dtype=bool)
    if price_limit is not None:
        close, locked = limit_path(close, price_limit)
    volume = adv_shares if day_volume_shares is None else day_volume_shares
    market = Market(close, locked, adv_shares, volume, volatility, reg.name)
    n = book.n_accounts
    state = ReplayState.start(book)
    calls = no_calls(n)
    topups = (np.zeros(n, dtype=bool), np.zeros(n, dtype=bool))  # will top up, due tomorrow
    names = [f for f in ReplayReport.__dataclass_fields__ if f not in ("day_index", "totals")]
    cols = {name: np.zeros(close.shape[0]) for name in names}
    interest_total = 0.0
    for d in range(close.shape[0]):
        conv, day_reg = controls(d) if controls is not None else (conversion_rate, reg)
        if d:
            interest_total += _accrue(state, annual_rate, float(elapsed_days[d]), day_count)
        ev = _mark_and_topup(state, topups, close[d], conv, day_reg, cols, d)
        active = ~state.closed
        status = np.where(state.liquidating | state.closed, Status.OK, ev.status).astype(np.int8)
        calls, events = step_calls(calls, replace(ev, status=status), d, day_reg)
        issued = events.issued & active
        will = np.where(issued, rng.random(n) < topup_probability, topups[0])
        topups = (will, topups[1] | (issued & will))
        new_liq = events.liquidate & active & ~state.liquidating
        state.liquidating |= new_liq
        target = np.maximum(day_reg.target, ev.call_level)
        plan_liquidations(state, market, d, day_reg, target, ev.status == Status.LIQUIDATE, policy)
        sell_day(state, market, d, day_reg, target, policy, cols)
        mv_after = _write_off(state, close[d], cols, d)
        counts = {
            "warnings": (ev.status == Status.WARNING) & active,
            "in_call": calls.open & active,
            "calls_issued": issued,
            "calls_met": events.met & active,
            "liquidations_started": new_liq,
            "liquidating": state.liquidating,
            "locked_names": locked[d],
        }
        for name, flags in counts.items():
            cols[name][d] = int(flags.sum())
        total_debt = state.debt.sum()
        cols["book_ratio"][d] = (state.cash.sum() + mv_after.sum()) / total_debt if total_debt > 0 else np.inf
    report = ReplayReport(day_index=np.arange(close.shape[0]), **cols)  # type: ignore[arg-type]
    report.totals = _totals(report, book, interest_total)
    return report


def _accrue(state: ReplayState, annual_rate: float, days: float, day_count: str) -> float:
    """Interest on every calendar day since the previous row; returns what was charged."""
    growth = 1.0 + annual_rate * float(year_fraction(days, day_count))
    charged = np.where(state.debt > 0, state.debt * (growth - 1.0), 0.0)
    state.debt = state.debt + charged
    return float(charged.sum())


def _mark_and_topup(
    state: ReplayState,
    topups: tuple[np.ndarray, np.ndarray],
    prices: np.ndarray,
    conv: np.ndarray,
    reg: Regime,
    cols: dict[str, np.ndarray],
    d: int,
) -> Evaluation:
    """Mark the book; top-ups promised yesterday arrive today (and the book is marked again)."""
    ev = evaluate(state.book(), prices, conv, reg)
    due = topups[1]
    if due.any():
        amount = np.where(due, ev.topup_minor, 0.0)
        state.cash = state.cash + amount
        cols["topups_minor"][d] = amount.sum()
        due[:] = False
        ev = evaluate(state.book(), prices, conv, reg)
    return ev


def _write_off(state: ReplayState, prices: np.ndarray, cols: dict[str, np.ndarray], d: int) -> np.ndarray:
    """Accounts with nothing left to sell and debt above their cash: the rest is a loss."""
    mv_after = np.bincount(state.acc, weights=state.qty * prices[state.ins], minlength=len(state.cash))
    gone = ~state.closed & (state.debt > state.cash + 1e-6) & (mv_after <= 1e-6)
    cols["shortfalls"][d] = int(gone.sum())
    cols["loss_minor"][d] = np.where(gone, state.debt - state.cash, 0.0).sum()
    state.debt = np.where(gone, 0.0, state.debt)
    state.cash = np.where(gone, 0.0, state.cash)
    state.closed |= gone
    state.liquidating &= ~gone
    state.parents.keep(~gone[state.parents.account])
    return mv_after


def _totals(report: ReplayReport, book: Book, interest_total: float) -> dict[str, float]:
    return {
        "accounts": float(book.n_accounts),
        "calls_issued": float(report.calls_issued.sum()),
        "calls_met": float(report.calls_met.sum()),
        "liquidations_started": float(report.liquidations_started.sum()),
        "liquidated_value_minor": float(report.liquidated_value_minor.sum()),
        "slippage_minor": float(report.slippage_minor.sum()),
        "expected_shortfall_minor": float(report.expected_shortfall_minor.sum()),
        "realised_shortfall_minor": float(report.realised_shortfall_minor.sum()),
        "shortfalls": float(report.shortfalls.sum()),
        "loss_minor": float(report.loss_minor.sum()),
        "initial_debt_minor": float(book.debt.sum()),
        "topups_minor": float(report.topups_minor.sum()),
        "interest_minor": float(interest_total),
        "limit_down_name_days": float(report.locked_names.sum()),
    }


def _calendar_days(dates: np.ndarray | None, n_rows: int) -> np.ndarray:
    """Calendar days from the previous row to each row (row 0: 0)."""
    if dates is None:
        return np.r_[0, np.ones(max(n_rows - 1, 0))]
    days = np.asarray(dates).astype("datetime64[D]")
    if days.shape != (n_rows,) or (np.diff(days).astype(np.int64) <= 0).any():
        raise InputError("dates must be one strictly increasing date per row", field="dates")
    return np.r_[0, np.diff(days).astype(np.int64)].astype(np.float64)
