"""The margin engine: collateral, maintenance ratio and status for every account at once.

Pure numpy. A book of accounts is held column-wise (``Book``): per account its cash and its
debt (loan + accrued interest + fees), and a flat list of positions (account index,
instrument index, quantity). One price tick is then a handful of vector operations and a
``bincount`` — no Python loop over accounts — so 100k accounts × 10 positions evaluate in
tens of milliseconds.

Regimes (thresholds are contract terms; the defaults are the usual ones):

* ``cn`` (融资融券, licensed brokers): maintenance collateral ratio
  ``(cash + market value) / debt``; warning below 150 %, margin call below 130 % (top up to
  150 % within 2 trading days), immediate forced liquidation below a house floor of 110 %,
  cash withdrawable only above 300 %. Initial: financing margin ratio 100 % (exchange
  notice of 2026-01-14; 80 % from 2023-09-08): available margin (cash plus collateral at
  its conversion rate, net of the loan) must cover 100 % of the loan — at most one unit of
  loan per unit of margin (see ``initial_margin_ok``).
* ``us``: Reg T 50 % initial (equity ≥ 50 % of long market value) and FINRA 4210 25 %
  maintenance (equity / market value), a house warning band at 30 % and a concentration
  add-on (+5 points when one position is more than 60 % of the account).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

from creditdesk.errors import InputError

# Conversion rates (1 − haircut) by instrument kind: DESIGN.md, "The margin maths".
CONVERSION_RATE_BY_KIND = {
    "index_constituent": 0.70,
    "share": 0.65,
    "etf": 0.90,
    "bond": 0.95,
    "flagged": 0.0,  # ST / suspended / flagged shares are worth nothing as collateral
}


class Status(enum.IntEnum):
    OK = 0
    WARNING = 1
    CALL = 2
    LIQUIDATE = 3


STATUS_NAMES = np.array([s.name.lower() for s in Status])


@dataclass(frozen=True)
class Regime:
    name: str
    kind: str  # "collateral_ratio" (cn) or "equity_fraction" (us)
    initial: float
    warning: float
    call: float
    target: float
    floor: float  # below this: liquidate at once, no grace period
    withdrawal: float
    call_days: int = 2
    concentration_weight: float = 1.0  # us only: position weight above which the add-on applies
    concentration_addon: float = 0.0


CN = Regime(
    "cn", "collateral_ratio", initial=1.0, warning=1.5, call=1.3, target=1.5, floor=1.1, withdrawal=3.0
)
US = Regime(
    "us",
    "equity_fraction",
    initial=0.5,
    warning=0.30,
    call=0.25,
    target=0.30,
    floor=0.15,
    withdrawal=0.5,
    call_days=2,
    concentration_weight=0.6,
    concentration_addon=0.05,
)
REGIMES = {"cn": CN, "us": US}


def regime(name: str) -> Regime:
    try:
        return REGIMES[name]
    except KeyError as exc:
        raise InputError(f"regime must be one of {sorted(REGIMES)}, got {name!r}", field="regime") from exc


@dataclass(frozen=True)
class Book:
    """Accounts column-wise; money in minor units as float64 (analytics, not the books)."""

    cash: np.ndarray  # [accounts]
    debt: np.ndarray  # [accounts] loan + accrued interest + fees
    pos_account: np.ndarray  # [positions] int index into accounts
    pos_instrument: np.ndarray  # [positions] int index into instruments
    pos_quantity: np.ndarray  # [positions] shares, ≥ 0

    @property
    def n_accounts(self) -> int:
        return len(self.cash)

    def validate(self, n_instruments: int) -> None:
        n = self.n_accounts
        if self.debt.shape != (n,):
            raise InputError("debt must have one entry per account", field="debt")
        if not (len(self.pos_account) == len(self.pos_instrument) == len(self.pos_quantity)):
            raise InputError("position arrays must have the same length", field="positions")
        if len(self.pos_account) and (self.pos_account.min() < 0 or self.pos_account.max() >= n):
            raise InputError("position account index out of range", field="positions")
        if len(self.pos_instrument) and (
            self.pos_instrument.min() < 0 or self.pos_instrument.max() >= n_instruments
        ):
            raise InputError("position instrument index out of range", field="positions")
        if (self.pos_quantity < 0).any():
            raise InputError("quantities must not be negative (no short positions)", field="positions")
        if (self.debt < 0).any() or not np.isfinite(self.cash).all():
            raise InputError("debt must be ≥ 0 and cash finite", field="debt")


@dataclass(frozen=True)
class Evaluation:
    market_value: np.ndarray
    collateral_value: np.ndarray
    equity: np.ndarray
    ratio: np.ndarray  # cn: (cash + MV) / debt; us: equity / MV; inf when nothing is owed
    call_level: np.ndarray  # the ratio below which a call is due (us: with the concentration add-on)
    status: np.ndarray  # Status codes (int8)
    topup_minor: np.ndarray  # cash to deposit to bring the ratio back to the target (0 if not needed)
    withdrawable_minor: np.ndarray  # cash that may leave without breaching the withdrawal rule


def position_values(book: Book, prices: np.ndarray) -> np.ndarray:
    return book.pos_quantity * prices[book.pos_instrument]


def evaluate(book: Book, prices: np.ndarray, conversion_rate: np.ndarray, reg: Regime = CN) -> Evaluation:
    """Mark every account to ``prices`` (one per instrument) and classify it under ``reg``."""
    if prices.ndim != 1 or conversion_rate.shape != prices.shape:
        raise InputError("prices and conversion rates must be one value per instrument", field="prices")
    if not np.isfinite(prices).all() or (prices < 0).any():
        raise InputError("prices must be finite and ≥ 0", field="prices")
    n = book.n_accounts
    values = position_values(book, prices)
    mv = np.bincount(book.pos_account, weights=values, minlength=n)
    cv = np.bincount(book.pos_account, weights=values * conversion_rate[book.pos_instrument], minlength=n)
    cash, debt = book.cash, book.debt
    equity = cash + mv - debt
    owes = debt > 0
    status = np.zeros(n, dtype=np.int8)
    call_level = np.full(n, reg.call)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if reg.kind == "collateral_ratio":
            ratio = np.where(owes, (cash + mv) / np.where(owes, debt, 1.0), np.inf)
            topup = np.where(owes, np.maximum(reg.target * debt - cash - mv, 0.0), 0.0)
            withdrawable = np.where(owes, np.clip(cash + mv - reg.withdrawal * debt, 0.0, None), cash)
        else:
            top = np.zeros(n)
            np.maximum.at(top, book.pos_account, values)
            concentrated = (mv > 0) & (top > reg.concentration_weight * mv)
            call_level = call_level + reg.concentration_addon * concentrated
            ratio = np.where(
                mv > 0, equity / np.where(mv > 0, mv, 1.0), np.where(equity >= 0, np.inf, -np.inf)
            )
            ratio = np.where(owes | (mv > 0), ratio, np.inf)
            target = np.maximum(reg.target, call_level)
            topup = np.where(owes, np.maximum(target * mv - equity, 0.0), 0.0)
            withdrawable = np.clip(equity - reg.withdrawal * mv, 0.0, None)
        withdrawable = np.minimum(withdrawable, np.maximum(cash, 0.0))
    warning_level = np.maximum(reg.warning, call_level)
    status[owes & (ratio < warning_level)] = Status.WARNING
    status[owes & (ratio < call_level)] = Status.CALL
    status[owes & (ratio < reg.floor)] = Status.LIQUIDATE
    return Evaluation(mv, cv, equity, ratio, call_level, status, topup, withdrawable)


def initial_margin_ok(
    cash: np.ndarray,
    market_value: np.ndarray,
    collateral_value: np.ndarray,
    debt: np.ndarray,
    reg: Regime = CN,
) -> np.ndarray:
    """Whether a position may be opened or a loan drawn: the regime's initial requirement after it.

    ``cn``: the exchange's available-margin formula with all positions pooled —
    cash + conversion × (market value − debt) − financing margin ratio × debt ≥ 0, where the
    conversion rate is the position-weighted one (collateral value / market value). With a
    70 % rate that allows about 0.7 of a unit of loan per unit of own money.
    ``us``: Reg T — equity ≥ 50 % of the long market value.
    """
    if reg.kind == "collateral_ratio":
        with np.errstate(divide="ignore", invalid="ignore"):
            conv = np.where(
                market_value > 0, collateral_value / np.where(market_value > 0, market_value, 1.0), 0.0
            )
        return cash + conv * (market_value - debt) - reg.initial * debt >= 0
    return cash + market_value - debt >= reg.initial * market_value


@dataclass(frozen=True)
class CallState:
    open: np.ndarray  # bool [accounts]
    deadline_day: np.ndarray  # int [accounts], trading-day index; -1 when no call


@dataclass(frozen=True)
class CallEvents:
    issued: np.ndarray
    met: np.ndarray
    liquidate: np.ndarray


def no_calls(n: int) -> CallState:
    return CallState(np.zeros(n, dtype=bool), np.full(n, -1, dtype=np.int64))


def step_calls(state: CallState, ev: Evaluation, day: int, reg: Regime = CN) -> tuple[CallState, CallEvents]:
    """Advance the margin-call lifecycle by one trading day.

    A call is issued when an account falls below its call level; it is met when the ratio is
    back at the target; at the deadline (``call_days`` trading days later) or below the floor
    the account is handed to liquidation. Liquidation closes the call.
    """
    target = np.maximum(reg.target, ev.call_level)
    below = ev.status >= Status.CALL
    issued = below & ~state.open
    open_ = state.open | issued
    deadline = np.where(issued, day + reg.call_days, state.deadline_day)
    met = open_ & ~issued & (ev.ratio >= target)
    liquidate = (ev.status == Status.LIQUIDATE) | (open_ & ~met & (day >= deadline) & ~issued)
    open_ = open_ & ~met & ~liquidate
    deadline = np.where(open_, deadline, -1)
    return CallState(open_, deadline), CallEvents(issued, met, liquidate)
