"""The replay's liquidations: parent orders per account, executed as schedules over the book.

Each liquidating account without a running parent gets one (``margin.liquidation``: what to
sell at today's prices to restore its target, uncapped); the parents of the whole book then
trade one session a day through ``margin.schedules.fill_day`` (shared participation cap,
limit-down names skipped), the proceeds repaying debt first. An account back at its target
has the rest of its schedule cancelled.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from margin.engine import Book, Regime
from margin.liquidation import liquidation_plan
from margin.schedules import SchedulePolicy, build_schedule, fill_day, volume_profile

UNCAPPED_ADV_SHARE = 1e12  # a parent order is sized without the cap; the schedule applies it


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
class ReplayState:
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

    @classmethod
    def start(cls, book: Book) -> ReplayState:
        """The replay's own copy of ``book`` (positions sorted by account), nothing liquidating."""
        n = book.n_accounts
        return cls(
            book.cash.astype(np.float64).copy(),
            book.debt.astype(np.float64).copy(),
            book.pos_quantity.astype(np.float64).copy(),
            book.pos_account,
            book.pos_instrument,
            np.searchsorted(book.pos_account, np.arange(n + 1)),
            np.zeros(n, dtype=bool),
            np.zeros(n, dtype=bool),
        )

    def book(self) -> Book:
        return Book(self.cash, self.debt, self.acc, self.ins, self.qty)


@dataclass(frozen=True)
class Market:
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


def restored(state: ReplayState, prices: np.ndarray, reg: Regime, target: np.ndarray) -> np.ndarray:
    """Accounts at or above their target (or owing nothing) at ``prices``."""
    mv = np.bincount(state.acc, weights=state.qty * prices[state.ins], minlength=len(state.cash))
    if reg.kind == "collateral_ratio":
        ok = state.cash + mv >= target * state.debt * (1 - 1e-9)
    else:
        ok = state.cash + mv - state.debt >= target * mv * (1 - 1e-9)
    return np.asarray((state.debt <= 0) | ok)


def plan_liquidations(
    state: ReplayState,
    market: Market,
    d: int,
    reg: Regime,
    target: np.ndarray,
    below_floor: np.ndarray,
    policy: SchedulePolicy,
) -> None:
    """Cancel the schedules of accounts back at target; give a parent order to those without one."""
    prices = market.close[d]
    done = state.liquidating & restored(state, prices, reg, target)
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
    state: ReplayState,
    market: Market,
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


def sell_day(
    state: ReplayState,
    market: Market,
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
    state.liquidating &= ~(finished & restored(state, prices, reg, target))
