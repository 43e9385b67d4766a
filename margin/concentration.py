"""Concentration limits: one name's share of an account, and the platform's exposure per name.

Two rules (thresholds in ``RiskControlsPolicy.concentration``):

* Account: the largest single name's share of the account's collateral market value may not
  exceed the limit of the account's maintenance-ratio tier, taken *after* the buy (e.g.
  ≥ 240 % unrestricted, 180–240 % ≤ 70 %, < 180 % ≤ 50 %). A weaker account may hold fewer
  eggs in one basket because a gap in that name is what turns a call into a shortfall.
* Platform: the financed book's exposure to a name (market value held by accounts that owe)
  must be sellable at ``platform_adv_share`` of its money ADV within
  ``platform_liquidation_days``, and may not exceed ``platform_float_share`` of its free-float
  market value (skipped when the float is unknown, NaN). Financed buying stops above either.

``check_buy`` is the scalar pre-trade form (an account holds ~10 names: plain Python is
faster than numpy there); ``book_concentration`` is the vectorised book report.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from margin.controls_policy import Concentration
from margin.engine import Book

ACCOUNT_LIMIT = "CONCENTRATION_ACCOUNT"
PLATFORM_ADV = "CONCENTRATION_PLATFORM_ADV"
PLATFORM_FLOAT = "CONCENTRATION_PLATFORM_FLOAT"
VOLATILITY_FREEZE = "BUY_FROZEN_VOLATILITY"


def tier_limit(ratio: float | np.ndarray, policy: Concentration) -> np.ndarray:
    """Max single-name share for each maintenance ratio (inf ratio = nothing owed = top tier)."""
    r = np.asarray(ratio, dtype=np.float64)
    out = np.full(r.shape, policy.tiers[-1].max_single_name_share)
    for tier in reversed(policy.tiers):  # ascending min_ratio: later (higher) tiers overwrite
        out = np.where(r >= tier.min_ratio, tier.max_single_name_share, out)
    return out


@dataclass(frozen=True)
class BuyCheck:
    ok: bool
    code: str | None = None
    detail: str = ""


OK = BuyCheck(True)


def check_buy(
    holdings_value: dict[int, float],
    cash: float,
    debt: float,
    instrument: int,
    amount: float,
    financed: float,
    platform_exposure: float,
    money_adv: float,
    float_value: float,
    policy: Concentration,
    frozen: bool = False,
) -> BuyCheck:
    """Pre-trade: may this account buy ``amount`` of ``instrument``, ``financed`` of it on credit?

    ``holdings_value`` maps instrument → market value held now; the own part of the amount
    comes out of cash. Reason codes: ``BUY_FROZEN_VOLATILITY`` (financed buy of a frozen
    name), ``CONCENTRATION_ACCOUNT``, ``CONCENTRATION_PLATFORM_ADV``, ``CONCENTRATION_PLATFORM_FLOAT``.
    """
    if financed > 0 and frozen:
        return BuyCheck(False, VOLATILITY_FREEZE, "new financed buys of this name are frozen")
    mv_after = sum(holdings_value.values()) + amount
    name_after = holdings_value.get(instrument, 0.0) + amount
    debt_after = debt + financed
    cash_after = cash - (amount - financed)
    ratio = (cash_after + mv_after) / debt_after if debt_after > 0 else float("inf")
    limit = 1.0
    for tier in policy.tiers:
        if ratio >= tier.min_ratio:
            limit = tier.max_single_name_share
            break
    if limit < 1.0 and mv_after > 0 and name_after / mv_after > limit:
        return BuyCheck(
            False,
            ACCOUNT_LIMIT,
            f"one name would be {name_after / mv_after:.0%} of collateral; limit {limit:.0%} "
            f"at a maintenance ratio of {ratio:.0%}",
        )
    if financed > 0:
        exposure_after = platform_exposure + amount
        capacity = policy.platform_adv_share * policy.platform_liquidation_days * money_adv
        if exposure_after > capacity:
            return BuyCheck(
                False,
                PLATFORM_ADV,
                f"platform exposure {exposure_after:,.0f} above {capacity:,.0f} "
                f"({policy.platform_adv_share:.0%} of money ADV over "
                f"{policy.platform_liquidation_days} days)",
            )
        if float_value == float_value and exposure_after > policy.platform_float_share * float_value:
            return BuyCheck(
                False,
                PLATFORM_FLOAT,
                f"platform exposure above {policy.platform_float_share:.0%} of free-float value",
            )
    return OK


def platform_exposure(book: Book, prices: np.ndarray) -> np.ndarray:
    """Per instrument: market value held by accounts that owe (the financed book)."""
    owes = book.debt[book.pos_account] > 0
    values = book.pos_quantity * prices[book.pos_instrument] * owes
    return np.bincount(book.pos_instrument, weights=values, minlength=len(prices))


def account_concentration(book: Book, prices: np.ndarray, policy: Concentration) -> pd.DataFrame:
    """Per account: largest name, its share, the tier limit and whether it is over."""
    n = book.n_accounts
    values = book.pos_quantity * prices[book.pos_instrument]
    mv = np.bincount(book.pos_account, weights=values, minlength=n)
    order = np.lexsort((values, book.pos_account))  # last of each account = its largest position
    last = np.r_[book.pos_account[order][1:] != book.pos_account[order][:-1], True]
    top_value, top_name = np.zeros(n), np.full(n, -1)
    top_value[book.pos_account[order][last]] = values[order][last]
    top_name[book.pos_account[order][last]] = book.pos_instrument[order][last]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(book.debt > 0, (book.cash + mv) / np.where(book.debt > 0, book.debt, 1), np.inf)
        share = np.where(mv > 0, top_value / np.where(mv > 0, mv, 1), 0.0)
    limit = tier_limit(ratio, policy)
    return pd.DataFrame(
        {
            "top_instrument": top_name,
            "top_share": share,
            "ratio": ratio,
            "limit": limit,
            "over": share > limit,
        }
    )


def book_concentration(
    book: Book,
    prices: np.ndarray,
    symbols: np.ndarray,
    money_adv: np.ndarray,
    float_value: np.ndarray,
    policy: Concentration,
) -> pd.DataFrame:
    """Per name: platform exposure against ADV capacity and float, and accounts over their limit."""
    exposure = platform_exposure(book, prices)
    capacity = policy.platform_adv_share * policy.platform_liquidation_days * money_adv
    acc = account_concentration(book, prices, policy)
    over = np.bincount(acc.loc[acc.over, "top_instrument"].to_numpy(), minlength=len(prices))
    with np.errstate(divide="ignore", invalid="ignore"):
        frame = pd.DataFrame(
            {
                "symbol": symbols,
                "exposure_minor": exposure,
                "adv_capacity_minor": capacity,
                "adv_use": np.where(capacity > 0, exposure / capacity, np.inf),
                "float_share": exposure / float_value,
                "accounts_over_limit": over,
            }
        )
    frame["financed_buys_stopped"] = (frame.adv_use > 1.0) | (frame.float_share > policy.platform_float_share)
    return frame.sort_values("exposure_minor", ascending=False, ignore_index=True)
