"""The margin engine: collateral, maintenance ratio and status for every account at once.

Pure numpy. A book of accounts is held column-wise (``Book``): per account its cash and its
debt (loan + accrued interest + fees), and a flat list of positions (account index,
instrument index, quantity). One price tick is then a handful of vector operations and a
``bincount`` — no Python loop over accounts — so 100k accounts × 10 positions evaluate in
tens of milliseconds.

Regimes (thresholds are contract terms; the defaults are the usual ones):

* ``cn`` (融资融券, licensed brokers): maintenance collateral ratio
  ``(cash + market value) / debt``; warning below 150 %, margin call below 130 % (top up to
  150 % within 2 **trading** days on XSHG, ``call_deadline``), immediate forced liquidation
  below a house floor of 110 %, cash withdrawable only above 300 %. Initial: the exchange's
  available margin (保证金可用余额, ``available_margin``) must stay ≥ 0 after a financed buy,
  with a financing margin ratio of 100 % for new contracts (exchange notice of 2026-01-14,
  effective 2026-01-19; 80 % from 2023-09-08).
* ``us``: Reg T 50 % initial (equity ≥ 50 % of long market value) and FINRA 4210 25 %
  maintenance (equity / market value), a house warning band at 30 % and a concentration
  add-on (+5 points when one position is more than 60 % of the account).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

from creditdesk.calendars import add_trading_days_many
from creditdesk.errors import InputError

# Conversion rates (1 − haircut) by the books' short instrument kinds, from the rule table in
# margin/instruments.py (exchange caps, 实施细则 折算率): "bond" is an "other bond" (80 %);
# government bonds and money-market / cash-management funds convert at 95 %.
CONVERSION_RATE_BY_KIND = {
    "index_constituent": 0.70,
    "share": 0.65,
    "etf": 0.90,
    "government_bond": 0.95,
    "money_market_fund": 0.95,
    "bond": 0.80,
    "fund": 0.80,
    "flagged": 0.0,  # ST / *ST / P/E < 0 or > 300 / suspended: worth nothing as collateral
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
    # [positions] loan money still owed for the row (融资买入金额); 0 = own collateral. A row is
    # either a financed purchase or collateral (the exchange formula treats them apart).
    pos_financed_minor: np.ndarray | None = None
    # [accounts] accrued interest and fees, part of ``debt``; deducted at 100 % from margin
    interest_fees_minor: np.ndarray | None = None
    # [accounts] the grade tier's haircut add-on stored on the facility at opening: lowers every
    # conversion rate of that account (floored at 0)
    haircut_addon: np.ndarray | None = None

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
        for name, arr, size in (
            ("pos_financed_minor", self.pos_financed_minor, len(self.pos_quantity)),
            ("interest_fees_minor", self.interest_fees_minor, n),
            ("haircut_addon", self.haircut_addon, n),
        ):
            if arr is not None and (arr.shape != (size,) or (arr < 0).any() or not np.isfinite(arr).all()):
                raise InputError(f"{name} must be one finite value ≥ 0 per row", field=name)
        if self.haircut_addon is not None and (self.haircut_addon >= 1).any():
            raise InputError("haircut_addon must be below 1", field="haircut_addon")

    def financed(self) -> np.ndarray:
        """Per position: the loan money owed on it (zeros when the book does not say)."""
        if self.pos_financed_minor is None:
            return np.zeros(len(self.pos_quantity))
        return self.pos_financed_minor

    def position_conversion(self, conversion_rate: np.ndarray) -> np.ndarray:
        """Per position: the instrument's rate less the account's add-on, floored at 0."""
        conv = conversion_rate[self.pos_instrument]
        if self.haircut_addon is None:
            return conv
        return np.clip(conv - self.haircut_addon[self.pos_account], 0.0, 1.0)


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
    cv = np.bincount(
        book.pos_account, weights=values * book.position_conversion(conversion_rate), minlength=n
    )
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


def available_margin(
    book: Book, prices: np.ndarray, conversion_rate: np.ndarray, reg: Regime = CN
) -> np.ndarray:
    """Per account: margin still available for new financing (保证金可用余额), minor units.

    ``cn`` — the exchange formula (SSE/SZSE 融资融券交易实施细则, 保证金可用余额):
    cash + Σ own collateral × conversion rate + Σ floating gains on financed positions ×
    conversion rate − Σ floating losses on financed positions at 100 % − Σ financed amount ×
    financing margin ratio − interest and fees at 100 %. Financed positions are not collateral
    themselves (only their gains are). Losses count in full because the loan is owed in full.
    ``us`` — Reg T excess equity: equity − 50 % of the long market value.
    """
    n = book.n_accounts
    values = position_values(book, prices)
    if reg.kind != "collateral_ratio":
        mv = np.bincount(book.pos_account, weights=values, minlength=n)
        return book.cash + mv - book.debt - reg.initial * mv
    financed = book.financed()
    conv = book.position_conversion(conversion_rate)
    is_financed = financed > 0
    pnl = values - financed
    contribution = np.where(
        is_financed,
        np.where(pnl > 0, pnl * conv, pnl) - reg.initial * financed,
        values * conv,
    )
    fees = np.zeros(n) if book.interest_fees_minor is None else book.interest_fees_minor
    return book.cash + np.bincount(book.pos_account, weights=contribution, minlength=n) - fees


def initial_margin_ok(
    book: Book, prices: np.ndarray, conversion_rate: np.ndarray, reg: Regime = CN
) -> np.ndarray:
    """Whether each account meets its regime's initial requirement (after a trade, pass the
    book as it would be): available margin ≥ 0. A financed buy of X uses X × the financing
    margin ratio of it, so before the buy it needs that much available margin."""
    return available_margin(book, prices, conversion_rate, reg) >= -1e-9


def call_deadline(reg: Regime, issued_on: np.ndarray) -> np.ndarray:
    """The day a call issued on each of ``issued_on`` must be met: the ``call_days``-th
    following session of the regime's exchange (XSHG for cn: a Friday call is due on the
    second following trading day, across weekends and holiday weeks)."""
    return add_trading_days_many(reg.name, issued_on, reg.call_days)


@dataclass(frozen=True)
class CallState:
    open: np.ndarray  # bool [accounts]
    deadline_day: np.ndarray  # [accounts] trading-day index (-1: none) or datetime64[D] (NaT: none)


@dataclass(frozen=True)
class CallEvents:
    issued: np.ndarray
    met: np.ndarray
    liquidate: np.ndarray


def no_calls(n: int, dated: bool = False) -> CallState:
    """No open call. ``dated``: deadlines are dates (books) instead of trading-day indexes (replay)."""
    if dated:
        return CallState(np.zeros(n, dtype=bool), np.full(n, np.datetime64("NaT"), dtype="datetime64[D]"))
    return CallState(np.zeros(n, dtype=bool), np.full(n, -1, dtype=np.int64))


def step_calls(
    state: CallState, ev: Evaluation, day: int | np.datetime64, reg: Regime = CN
) -> tuple[CallState, CallEvents]:
    """Advance the margin-call lifecycle by one trading day.

    A call is issued when an account falls below its call level; it is met when the ratio is
    back at the target; at the deadline (``call_days`` trading days later) or below the floor
    the account is handed to liquidation. Liquidation closes the call. ``day`` is either the
    index of a trading day in a price history (the replay: its index already counts sessions)
    or a date, whose deadline then comes from the exchange calendar (``call_deadline``).
    """
    target = np.maximum(reg.target, ev.call_level)
    below = ev.status >= Status.CALL
    issued = below & ~state.open
    open_ = state.open | issued
    if isinstance(day, int | np.integer):
        new_deadline: np.ndarray | int = int(day) + reg.call_days
        none: np.datetime64 | int = -1
    else:
        today = np.asarray(day).astype("datetime64[D]")
        new_deadline = call_deadline(reg, np.full(len(issued), today)) if issued.any() else today
        none = np.datetime64("NaT")
    deadline = np.where(issued, new_deadline, state.deadline_day)
    met = open_ & ~issued & (ev.ratio >= target)
    due = np.asarray(day >= deadline)  # NaT (no call) compares False
    liquidate = (ev.status == Status.LIQUIDATE) | (open_ & ~met & due & ~issued)
    open_ = open_ & ~met & ~liquidate
    deadline = np.where(open_, deadline, none)
    return CallState(open_, deadline), CallEvents(issued, met, liquidate)
