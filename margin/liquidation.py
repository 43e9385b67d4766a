"""Staged liquidation: sell just enough to restore the target ratio, without moving the market.

For one account in liquidation we compute the market value ``s`` that must be sold so that,
with the proceeds repaying debt, the ratio is back at the regime's target:

* ``cn``:  (C + M − s) / (D − s(1 − c)) = T   ⇒   s = (T·D − (C + M)) / (T(1 − c) − 1)
* ``us``:  (E − s·c) / (M − s) = T            ⇒   s = (T·M − E) / (T − c)

where C is cash, M market value, D debt, E = C + M − D and c the expected cost of selling as
a fraction of the sale (half the spread plus square-root market impact
``impact × σ_daily × √(quantity / ADV)``). ``c`` depends on the orders and the orders on
``s``, so the two are iterated to a fixed point (three rounds suffice: ``c`` is small).

Orders go most liquid first (ADV in money, by order of magnitude) and, among equally liquid
names, riskiest first (daily volatility); each order is capped at ``adv_share`` of the
name's average daily volume (times a liquidity factor: 0.5 in a crash), and what the cap
leaves over is sold on the next trading day (the next stage). If the target cannot be
reached, the plan sells everything and reports the shortfall the platform would bear.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from margin.engine import CN, Regime


@dataclass(frozen=True)
class Order:
    stage: int  # trading days from now (0 = today)
    position: int  # index into the arrays passed to liquidation_plan
    quantity: float
    price: float
    slippage_bps: float
    proceeds_minor: float


@dataclass(frozen=True)
class LiquidationPlan:
    orders: list[Order]
    sale_value_minor: float  # market value sold (before costs)
    proceeds_minor: float  # expected cash received
    restores_target: bool
    shortfall_minor: float  # debt the platform is expected to lose (0 unless everything is sold)


def slippage_fraction(
    quantity: np.ndarray | float,
    adv_shares: np.ndarray | float,
    volatility: np.ndarray | float,
    spread_bps: float = 10.0,
    impact: float = 1.0,
) -> np.ndarray:
    """Expected cost of a sale as a fraction of its value: half spread + square-root impact."""
    participation = np.divide(quantity, np.maximum(adv_shares, 1.0))
    return np.asarray(spread_bps / 2e4 + impact * np.asarray(volatility) * np.sqrt(participation))


def required_sale(
    cash: float, market_value: float, debt: float, cost: float, reg: Regime, target: float
) -> float:
    """Market value to sell to restore ``target`` (inf when selling cannot restore it)."""
    if reg.kind == "collateral_ratio":
        if debt <= 0 or (cash + market_value) >= target * debt:
            return 0.0
        denom = target * (1.0 - cost) - 1.0
        return math.inf if denom <= 0 else (target * debt - cash - market_value) / denom
    equity = cash + market_value - debt
    if market_value <= 0 or equity >= target * market_value:
        return 0.0
    return math.inf if target <= cost else (target * market_value - equity) / (target - cost)


def _priority(price: np.ndarray, adv_shares: np.ndarray, volatility: np.ndarray) -> np.ndarray:
    liquidity_bucket = np.floor(np.log10(np.maximum(adv_shares * price, 1.0)))
    return np.lexsort((-volatility, -liquidity_bucket))  # last key is primary


def _orders_for(
    value_needed: float,
    quantity: np.ndarray,
    price: np.ndarray,
    daily_cap: np.ndarray,
    adv_shares: np.ndarray,
    volatility: np.ndarray,
    order: np.ndarray,
    max_stages: int,
    spread_bps: float,
    impact: float,
) -> list[Order]:
    left = quantity.astype(np.float64).copy()
    orders: list[Order] = []
    remaining = value_needed
    for stage in range(max_stages):
        for j in order:
            if remaining <= 0:
                return orders
            if left[j] <= 0 or price[j] <= 0:
                continue
            q = min(left[j], daily_cap[j], math.ceil(remaining / price[j]))
            if q <= 0:
                continue
            cost = float(slippage_fraction(q, adv_shares[j], volatility[j], spread_bps, impact))
            value = q * price[j]
            orders.append(Order(stage, int(j), float(q), float(price[j]), cost * 1e4, value * (1.0 - cost)))
            left[j] -= q
            remaining -= value
        if not (left > 0).any():
            break
    return orders


def liquidation_plan(
    quantity: np.ndarray,
    price: np.ndarray,
    adv_shares: np.ndarray,
    volatility: np.ndarray,
    cash: float,
    debt: float,
    reg: Regime = CN,
    target: float | None = None,
    adv_share: float = 0.10,
    liquidity: float = 1.0,
    max_stages: int = 5,
    spread_bps: float = 10.0,
    impact: float = 1.0,
) -> LiquidationPlan:
    """The orders that bring one account back to ``target`` (default: the regime's target)."""
    target = reg.target if target is None else target
    quantity = np.asarray(quantity, dtype=np.float64)
    price = np.asarray(price, dtype=np.float64)
    market_value = float(quantity @ price)
    daily_cap = np.floor(np.maximum(adv_share * liquidity * np.asarray(adv_shares, dtype=np.float64), 0.0))
    order = _priority(
        price, np.asarray(adv_shares, dtype=np.float64), np.asarray(volatility, dtype=np.float64)
    )
    cost = spread_bps / 2e4
    orders: list[Order] = []
    for _ in range(3):
        need = required_sale(cash, market_value, debt, cost, reg, target)
        if need <= 0:
            return LiquidationPlan([], 0.0, 0.0, True, 0.0)
        need = min(need, market_value)
        orders = _orders_for(
            need, quantity, price, daily_cap, adv_shares, volatility, order, max_stages, spread_bps, impact
        )
        sold = sum(o.quantity * o.price for o in orders)
        got = sum(o.proceeds_minor for o in orders)
        cost = 1.0 - got / sold if sold > 0 else cost
    sold = sum(o.quantity * o.price for o in orders)
    got = sum(o.proceeds_minor for o in orders)
    after_cash, after_mv, after_debt = cash, market_value - sold, max(debt - got, 0.0)
    extra_cash = max(got - debt, 0.0)
    if reg.kind == "collateral_ratio":
        restored = after_debt <= 0 or (after_cash + extra_cash + after_mv) >= target * after_debt * (1 - 1e-9)
    else:
        eq = after_cash + extra_cash + after_mv - after_debt
        restored = after_debt <= 0 or eq >= target * after_mv * (1 - 1e-9)
    everything_sold = after_mv <= 1e-9 * max(market_value, 1.0)
    shortfall = max(debt - cash - got, 0.0) if everything_sold and not restored else 0.0
    return LiquidationPlan(orders, sold, got, bool(restored), shortfall)
