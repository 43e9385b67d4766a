"""Wash-trade and self-dealing rules, checked before an order is accepted.

Two refusals, each with a reason code the caller returns to the client and logs:

* ``WASH_SELF_CROSS``: the order would trade against the same account's own resting order in
  the same name (a buy at or above its own resting sell, a sell at or below its own resting
  buy; a market order crosses any price). Matching with yourself moves no risk and fakes
  volume and prices.
* ``WASH_ROUND_TRIP``: the account filled the opposite side of the same name within the
  policy window (``wash_trade.round_trip_window_s``) — buy-and-sell-back loops that inflate
  turnover (and, on margin, churn the financed amount).

``round_trips`` screens a whole trade log the same way, for the committee report.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

SELF_CROSS = "WASH_SELF_CROSS"
ROUND_TRIP = "WASH_ROUND_TRIP"
BUY, SELL = 1, -1


@dataclass(frozen=True)
class Order:
    account: int
    instrument: int
    side: int  # BUY or SELL
    quantity: float
    limit_price: float | None  # None = market order
    time_ns: int


@dataclass(frozen=True)
class Fill:
    instrument: int
    side: int
    time_ns: int


@dataclass(frozen=True)
class WashCheck:
    ok: bool
    code: str | None = None
    detail: str = ""


def _crosses(order: Order, resting: Order) -> bool:
    if order.limit_price is None or resting.limit_price is None:
        return True
    if order.side == BUY:
        return order.limit_price >= resting.limit_price
    return order.limit_price <= resting.limit_price


def check_order(
    order: Order, resting: Iterable[Order], recent_fills: Iterable[Fill], window_s: int
) -> WashCheck:
    """Pre-trade wash screen of one order against the same account's resting orders and fills."""
    for r in resting:
        same_book = r.account == order.account and r.instrument == order.instrument
        if same_book and r.side == -order.side and _crosses(order, r):
            return WashCheck(False, SELF_CROSS, "order would cross the account's own resting order")
    horizon_ns = window_s * 1_000_000_000
    for f in recent_fills:
        if (
            f.instrument == order.instrument
            and f.side == -order.side
            and 0 <= order.time_ns - f.time_ns <= horizon_ns
        ):
            seconds = (order.time_ns - f.time_ns) / 1e9
            return WashCheck(
                False, ROUND_TRIP, f"opposite fill in the same name {seconds:.0f} s ago (window {window_s} s)"
            )
    return WashCheck(True)


def round_trips(trades: pd.DataFrame, window_s: int) -> pd.DataFrame:
    """Trades (account, instrument, side, time_ns) that reverse the account's last trade in the name.

    Vectorised: sort by account, name and time; a trade is a round trip when the previous
    trade of the same account and name had the opposite side within the window.
    """
    t = trades.sort_values(["account", "instrument", "time_ns"], kind="stable").reset_index(drop=True)
    same = (t.account.to_numpy()[1:] == t.account.to_numpy()[:-1]) & (
        t.instrument.to_numpy()[1:] == t.instrument.to_numpy()[:-1]
    )
    flip = t.side.to_numpy()[1:] == -t.side.to_numpy()[:-1]
    close = np.diff(t.time_ns.to_numpy()) <= window_s * 1_000_000_000
    hit = np.r_[False, same & flip & close]
    return t[hit]
