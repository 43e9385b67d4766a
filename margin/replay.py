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
from margin.engine import Book, Regime, Status, evaluate, no_calls, step_calls
from margin.liquidation import liquidation_plan


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
    slippage_minor: np.ndarray
    shortfalls: np.ndarray  # accounts written off that day
    loss_minor: np.ndarray  # debt written off that day
    book_ratio: np.ndarray  # (Σ cash + Σ market value) / Σ debt
    topups_minor: np.ndarray
    locked_names: np.ndarray  # instruments at limit-down (unsellable) that day
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
) -> ReplayReport:
    """Run ``book`` through ``close`` [days × instruments]; day 0 is the starting mark.

    ``dates`` (one per row) set the calendar days each step accrues; without them each row
    is one calendar day. ``price_limit`` (per instrument, a fraction) turns on the cn daily
    limits: marks follow the limited path and limit-down names cannot be sold that day.
    ``controls(d)``, when given, returns day d's conversion rates and regime (dynamic margin
    from risk events, ``margin.dynamic.DailyControls.on``); otherwise both stay fixed.
    """
    base_conversion, base_reg = conversion_rate, reg
    rng = np.random.default_rng(seed)
    elapsed_days = _calendar_days(dates, close.shape[0])
    locked = np.zeros(close.shape, dtype=bool)
    if price_limit is not None:
        close, locked = limit_path(close, price_limit)
    sellable_adv = np.where(locked, 0.0, adv_shares)
    n_days, n = close.shape[0], book.n_accounts
    cash, debt = book.cash.astype(np.float64).copy(), book.debt.astype(np.float64).copy()
    qty = book.pos_quantity.astype(np.float64).copy()
    acc, ins = book.pos_account, book.pos_instrument
    starts = np.searchsorted(acc, np.arange(n + 1))
    calls = no_calls(n)
    will_topup = np.zeros(n, dtype=bool)
    due_topup = np.zeros(n, dtype=bool)
    liquidating = np.zeros(n, dtype=bool)
    closed = np.zeros(n, dtype=bool)
    cols = {
        name: np.zeros(n_days)
        for name in ReplayReport.__dataclass_fields__
        if name not in ("day_index", "totals")
    }
    interest_total = 0.0
    for d in range(n_days):
        prices = close[d]
        conversion_rate, reg = controls(d) if controls is not None else (base_conversion, base_reg)
        if d:
            growth = 1.0 + annual_rate * float(year_fraction(float(elapsed_days[d]), day_count))
            charged = np.where(debt > 0, debt * (growth - 1.0), 0.0)
            interest_total += charged.sum()
            debt = debt + charged
        current = Book(cash, debt, acc, ins, qty)
        ev = evaluate(current, prices, conversion_rate, reg)
        # top-ups promised yesterday arrive today
        if due_topup.any():
            amount = np.where(due_topup, ev.topup_minor, 0.0)
            cash = cash + amount
            cols["topups_minor"][d] = amount.sum()
            due_topup[:] = False
            current = Book(cash, debt, acc, ins, qty)
            ev = evaluate(current, prices, conversion_rate, reg)
        active = ~closed
        status = np.where(liquidating | closed, Status.OK, ev.status).astype(np.int8)
        masked = replace(ev, status=status)
        calls, events = step_calls(calls, masked, d, reg)
        issued = events.issued & active
        will_topup = np.where(issued, rng.random(n) < topup_probability, will_topup)
        due_topup |= issued & will_topup
        new_liq = events.liquidate & active & ~liquidating
        liquidating |= new_liq
        sold_value = slip = 0.0
        for a in np.flatnonzero(liquidating):
            lo, hi = starts[a], starts[a + 1]
            plan = liquidation_plan(
                qty[lo:hi],
                prices[ins[lo:hi]],
                sellable_adv[d, ins[lo:hi]],
                volatility[d, ins[lo:hi]],
                float(cash[a]),
                float(debt[a]),
                reg,
                target=float(max(reg.target, ev.call_level[a])),
                adv_share=adv_share,
                max_stages=1,
            )
            for o in plan.orders:
                qty[lo + o.position] -= o.quantity
                sold_value += o.quantity * o.price
                slip += o.quantity * o.price - o.proceeds_minor
            repay = min(plan.proceeds_minor, debt[a])
            debt[a] -= repay
            cash[a] += plan.proceeds_minor - repay
            if plan.restores_target or debt[a] <= 0:
                liquidating[a] = False
        # write off accounts with nothing left to sell
        mv_after = np.bincount(acc, weights=qty * prices[ins], minlength=n)
        gone = active & (debt > cash + 1e-6) & (mv_after <= 1e-6)
        loss = np.where(gone, debt - cash, 0.0)
        debt = np.where(gone, 0.0, debt)
        cash = np.where(gone, 0.0, cash)
        closed |= gone
        liquidating &= ~gone
        total_debt = debt.sum()
        cols["warnings"][d] = int(((ev.status == Status.WARNING) & active).sum())
        cols["in_call"][d] = int((calls.open & active).sum())
        cols["calls_issued"][d] = int(issued.sum())
        cols["calls_met"][d] = int((events.met & active).sum())
        cols["liquidations_started"][d] = int(new_liq.sum())
        cols["liquidating"][d] = int(liquidating.sum())
        cols["liquidated_value_minor"][d] = sold_value
        cols["slippage_minor"][d] = slip
        cols["shortfalls"][d] = int(gone.sum())
        cols["loss_minor"][d] = loss.sum()
        cols["book_ratio"][d] = (cash.sum() + mv_after.sum()) / total_debt if total_debt > 0 else np.inf
        cols["locked_names"][d] = int(locked[d].sum())
    report = ReplayReport(day_index=np.arange(n_days), **cols)  # type: ignore[arg-type]
    report.totals = {
        "accounts": float(n),
        "calls_issued": float(report.calls_issued.sum()),
        "calls_met": float(report.calls_met.sum()),
        "liquidations_started": float(report.liquidations_started.sum()),
        "liquidated_value_minor": float(report.liquidated_value_minor.sum()),
        "slippage_minor": float(report.slippage_minor.sum()),
        "shortfalls": float(report.shortfalls.sum()),
        "loss_minor": float(report.loss_minor.sum()),
        "initial_debt_minor": float(book.debt.sum()),
        "topups_minor": float(report.topups_minor.sum()),
        "interest_minor": float(interest_total),
        "limit_down_name_days": float(report.locked_names.sum()),
    }
    return report


def _calendar_days(dates: np.ndarray | None, n_rows: int) -> np.ndarray:
    """Calendar days from the previous row to each row (row 0: 0)."""
    if dates is None:
        return np.r_[0, np.ones(max(n_rows - 1, 0))]
    days = np.asarray(dates).astype("datetime64[D]")
    if days.shape != (n_rows,) or (np.diff(days).astype(np.int64) <= 0).any():
        raise InputError("dates must be one strictly increasing date per row", field="dates")
    return np.r_[0, np.diff(days).astype(np.int64)].astype(np.float64)
