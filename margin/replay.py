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
from margin.liquidation import liquidation_plan
from margin.schedules import SchedulePolicy, build_schedule, fill_day, volume_profile

UNCAPPED_ADV_SHARE = 1e12  # a parent order is sized without the cap; the schedule applies it


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


@dataclass
class Parents:
    """Open parent orders of the book's liquidations, one row per (account, position) sold."""

    account: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    position: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    left: np.ndarray = field(default_factory=lambda: np.zeros(0))
    total: np.ndarray = field(default_factory=lambda: np.zeros(0))
    days_done: np.ndarray = field(default_factory=lambda: np.zeros(0))
    algorithm: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int8))
    arrival_price: np.ndarray = field(default_factory=lambda: np.zeros(0))
    expected_cost: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def keep(self, mask: np.ndarray) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name)[mask])

    def extend(self, other: Parents) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, np.concatenate([getattr(self, name), getattr(other, name)]))


@dataclass
class _State:
    """The book as the replay moves it: balances, quantities and the liquidations under way."""

    cash: np.ndarray
    debt: np.ndarray
    qty: np.ndarray
    acc: np.ndarray
    ins: np.ndarray
    starts: np.ndarray
    liquidating: np.ndarray
    closed: np.ndarray
    parents: Parents = field(default_factory=Parents)

    def book(self) -> Book:
        return Book(self.cash, self.debt, self.acc, self.ins, self.qty)


@dataclass(frozen=True)
class _Market:
    """The price path and what the schedules need of it, per day × instrument."""

    close: np.ndarray
    locked: np.ndarray
    adv_shares: np.ndarray
    volume_shares: np.ndarray  # the day's traded volume (the ADV when none is given)
    volatility: np.ndarray
    regime_name: str  # whose intraday volume profile the schedules follow

    @property
    def profile(self) -> np.ndarray:
        return volume_profile(self.regime_name)


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
    market = _Market(close, locked, adv_shares, volume, volatility, reg.name)
    n = book.n_accounts
    state = _State(
        book.cash.astype(np.float64).copy(),
        book.debt.astype(np.float64).copy(),
        book.pos_quantity.astype(np.float64).copy(),
        book.pos_account,
        book.pos_instrument,
        np.searchsorted(book.pos_account, np.arange(n + 1)),
        np.zeros(n, dtype=bool),
        np.zeros(n, dtype=bool),
    )
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
        _plan(state, market, d, day_reg, target, ev.status == Status.LIQUIDATE, policy)
        _sell(state, market, d, day_reg, target, policy, cols)
        mv_after = _write_off(state, close[d], cols, d)
        total_debt = state.debt.sum()
        cols["warnings"][d] = int(((ev.status == Status.WARNING) & active).sum())
        cols["in_call"][d] = int((calls.open & active).sum())
        cols["calls_issued"][d] = int(issued.sum())
        cols["calls_met"][d] = int((events.met & active).sum())
        cols["liquidations_started"][d] = int(new_liq.sum())
        cols["liquidating"][d] = int(state.liquidating.sum())
        cols["book_ratio"][d] = (state.cash.sum() + mv_after.sum()) / total_debt if total_debt > 0 else np.inf
        cols["locked_names"][d] = int(locked[d].sum())
    report = ReplayReport(day_index=np.arange(close.shape[0]), **cols)  # type: ignore[arg-type]
    report.totals = _totals(report, book, interest_total)
    return report


def _accrue(state: _State, annual_rate: float, days: float, day_count: str) -> float:
    """Interest on every calendar day since the previous row; returns what was charged."""
    growth = 1.0 + annual_rate * float(year_fraction(days, day_count))
    charged = np.where(state.debt > 0, state.debt * (growth - 1.0), 0.0)
    state.debt = state.debt + charged
    return float(charged.sum())


def _mark_and_topup(
    state: _State,
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


def _restored(state: _State, prices: np.ndarray, reg: Regime, target: np.ndarray) -> np.ndarray:
    """Accounts at or above their target (or owing nothing) at ``prices``."""
    mv = np.bincount(state.acc, weights=state.qty * prices[state.ins], minlength=len(state.cash))
    if reg.kind == "collateral_ratio":
        ok = state.cash + mv >= target * state.debt * (1 - 1e-9)
    else:
        ok = state.cash + mv - state.debt >= target * mv * (1 - 1e-9)
    return np.asarray((state.debt <= 0) | ok)


def _plan(
    state: _State,
    market: _Market,
    d: int,
    reg: Regime,
    target: np.ndarray,
    below_floor: np.ndarray,
    policy: SchedulePolicy,
) -> None:
    """Cancel the schedules of accounts back at target; give a parent order to those without one."""
    prices = market.close[d]
    done = state.liquidating & _restored(state, prices, reg, target)
    state.liquidating &= ~done
    state.parents.keep(~done[state.parents.account])
    running = np.zeros(len(state.cash), dtype=bool)
    running[state.parents.account] = True
    sellable_adv = np.where(market.locked[d], 0.0, market.adv_shares[d])
    rows: list[tuple[int, int, float]] = []
    for a in np.flatnonzero(state.liquidating & ~running):
        lo, hi = state.starts[a], state.starts[a + 1]
        plan = liquidation_plan(
            state.qty[lo:hi],
            prices[state.ins[lo:hi]],
            sellable_adv[state.ins[lo:hi]],
            market.volatility[d, state.ins[lo:hi]],
            float(state.cash[a]),
            float(state.debt[a]),
            reg,
            target=float(target[a]),
            adv_share=UNCAPPED_ADV_SHARE,
            max_stages=1,
            spread_bps=policy.spread_bps,
            impact=policy.impact,
        )
        rows.extend((int(a), int(lo + o.position), o.quantity) for o in plan.orders)
    if rows:
        state.parents.extend(_parents(rows, state, market, d, below_floor, policy))


def _parents(
    rows: list[tuple[int, int, float]],
    state: _State,
    market: _Market,
    d: int,
    below_floor: np.ndarray,
    policy: SchedulePolicy,
) -> Parents:
    """New parent rows with their schedule's expected cost (at today's price and ADV)."""
    account = np.array([r[0] for r in rows], dtype=np.int64)
    position = np.array([r[1] for r in rows], dtype=np.int64)
    quantity = np.array([r[2] for r in rows])
    algorithm = policy.algorithm_for(below_floor[account])
    prices = market.close[d]
    plan = build_schedule(
        quantity,
        state.ins[position],
        algorithm,
        prices,
        market.adv_shares[d] * prices,
        market.volatility[d],
        policy,
        market.regime_name,
    )
    zeros = np.zeros(len(rows))
    return Parents(
        account,
        position,
        quantity,
        quantity.copy(),
        zeros,
        algorithm,
        prices[state.ins[position]],
        plan.expected_cost_fraction,
    )


def _sell(
    state: _State,
    market: _Market,
    d: int,
    reg: Regime,
    target: np.ndarray,
    policy: SchedulePolicy,
    cols: dict[str, np.ndarray],
) -> None:
    """Today's child orders of every schedule in the book, proceeds repaying debt first."""
    p = state.parents
    if len(p.account) == 0:
        return
    prices = market.close[d]
    fills = fill_day(
        p.left,
        p.total,
        p.days_done,
        p.algorithm,
        state.ins[p.position],
        prices,
        market.volume_shares[d] * prices,
        market.volatility[d],
        policy,
        market.profile,
        market.locked[d],
    )
    value = fills.quantity * prices[state.ins[p.position]]
    proceeds = value * (1.0 - fills.cost_fraction)
    np.subtract.at(state.qty, p.position, fills.quantity)
    got = np.bincount(p.account, weights=proceeds, minlength=len(state.cash))
    repay = np.minimum(got, np.maximum(state.debt, 0.0))
    state.debt -= repay
    state.cash += got - repay
    arrival = fills.quantity * p.arrival_price
    cols["liquidated_value_minor"][d] = value.sum()
    cols["slippage_minor"][d] = (value - proceeds).sum()
    cols["expected_shortfall_minor"][d] = (arrival * p.expected_cost).sum()
    cols["realised_shortfall_minor"][d] = (arrival - proceeds).sum()
    p.left = p.left - fills.quantity
    p.days_done = p.days_done + 1
    p.keep((p.left > 0) & (state.debt[p.account] > 0))
    running = np.zeros(len(state.cash), dtype=bool)
    running[p.account] = True
    finished = state.liquidating & ~running
    state.liquidating &= ~(finished & _restored(state, prices, reg, target))


def _write_off(state: _State, prices: np.ndarray, cols: dict[str, np.ndarray], d: int) -> np.ndarray:
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
