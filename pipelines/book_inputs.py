"""What the living book runs on: real prices, that month's applications decided by the
serving path, and each customer's behaviour traits.

Pure functions over frames; the book loop (``pipelines.book``) does the I/O.

Behaviour model (the generator's causal story, read from what the platform observes, never
from the generator's hidden variables): appetite for leverage rises with the risk
questionnaire score (how much of the line is drawn at opening); trading frequency follows
the customer's own cash-account history (trades per day, bounded); the basket is the names
the customer traded most; the chance of meeting a margin call, or of curing a shortfall,
rises with bureau score and liquid assets outside the platform; credit events arrive with
the decision's own 12-month PD as a daily hazard, raised when the market has fallen over
the last 60 trading days (a crash lifts defaults across every cohort, as in the generator).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from creditdesk.errors import InputError

BASKET_MAX = 5
TRADES_PER_DAY_BOUNDS = (0.002, 0.05)  # ~1 % of accounts trade on a day
CRASH_SENSITIVITY = 3.0  # hazard × exp(3 × 60-day market fall), cf. PopulationConfig.crash_sensitivity
MARKET_LOOKBACK_DAYS = 60
MAX_DAYS_WITHOUT_PRICES = 10  # calendar days; longer than any exchange holiday run


@dataclass(frozen=True)
class PriceBook:
    """Daily closes: ``days`` (datetime64[D], ascending) × ``tickers``; instrument id = column + 1."""

    days: np.ndarray
    tickers: np.ndarray
    close: np.ndarray  # float64, NaN where a name has no price that day

    @classmethod
    def from_prices(cls, prices: pd.DataFrame) -> PriceBook:
        if prices.empty:
            raise InputError("prices: the population has no prices", field="prices")
        wide = prices.pivot_table(index="date", columns="ticker", values="close", aggfunc="last").sort_index()
        wide = wide.ffill()  # a name without a trade that day keeps its last close
        days = wide.index.to_numpy(dtype="datetime64[D]")
        return cls(days, wide.columns.to_numpy(dtype=str), wide.to_numpy(dtype=np.float64))

    def instrument_ids(self) -> dict[str, int]:
        return {str(t): i + 1 for i, t in enumerate(self.tickers)}

    def window(self, start: dt.date, months: int) -> np.ndarray:
        """Indices of the business days in [start, start + months); refuse dates outside the
        prices and any stretch of more than 10 calendar days without a price (a missing month)."""
        if not 1 <= months <= 240:
            raise InputError("--months must be between 1 and 240", field="months")
        first = np.datetime64(start, "D")
        end = np.datetime64((pd.Timestamp(start) + pd.DateOffset(months=months)).date(), "D")
        if first < self.days[0] or end - 1 > self.days[-1]:
            raise InputError(
                f"--from {start} for {months} month(s) runs outside the price data"
                f" ({self.days[0]} to {self.days[-1]})",
                field="from",
            )
        idx = np.flatnonzero((self.days >= first) & (self.days < end))
        edges = np.concatenate([[first - 1], self.days[idx], [end]])
        gaps = np.diff(edges).astype(np.int64)
        if np.any(gaps > MAX_DAYS_WITHOUT_PRICES):
            at = int(np.argmax(gaps > MAX_DAYS_WITHOUT_PRICES))
            raise InputError(
                f"no prices from {edges[at] + 1} to {edges[at + 1] - 1}: the book cannot be marked"
                " (a month without prices?)",
                field="from",
            )
        return idx

    def price_minor(self, day_index: int) -> dict[int, int]:
        row = self.close[day_index]
        return {i + 1: max(round(float(p) * 100), 1) for i, p in enumerate(row) if np.isfinite(p)}

    def market_fall(self, day_index: int) -> float:
        """max(0, −equal-weighted return over the last 60 trading days), known on the day."""
        lo = max(day_index - MARKET_LOOKBACK_DAYS, 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = self.close[day_index] / self.close[lo]
        r = float(np.nanmean(ratio)) - 1.0 if np.isfinite(ratio).any() else 0.0
        return max(0.0, -r)


def traits(
    apps: pd.DataFrame, tables: dict[str, pd.DataFrame], instrument_ids: dict[str, int]
) -> pd.DataFrame:
    """Per application: draw share, daily trade probability, call-meeting probability, basket."""
    cust = tables["customers"].set_index("customer_id")
    bureau = tables["bureau"].set_index("customer_id")
    cids = apps["customer_id"].to_numpy()
    score = cust.loc[cids, "risk_questionnaire_score"].to_numpy(dtype=np.float64)
    bscore = bureau.loc[cids, "bureau_score"].to_numpy(dtype=np.float64)
    liquid = cust.loc[cids, "liquid_assets_minor"].to_numpy(dtype=np.float64)
    assets = np.maximum(apps["platform_assets_minor"].to_numpy(dtype=np.float64), 1.0)
    trades = tables["trades"]
    mine = trades[trades["customer_id"].isin(cids)]
    n_trades = mine.groupby("customer_id").size().reindex(cids, fill_value=0).to_numpy()
    history_days = (
        (apps["application_date"] - cust.loc[cids, "account_opened_date"].to_numpy())
        .dt.days.clip(lower=30)
        .to_numpy()
    )
    baskets = _baskets(mine, cids, instrument_ids)
    meet = 0.15 + 0.6 * (bscore - 300) / 550 + 0.2 * np.clip(liquid / assets, 0, 1)
    return pd.DataFrame(
        {
            "application_id": apps["application_id"].to_numpy(),
            "draw_share": 0.2 + 0.6 * np.clip(score, 0, 100) / 100,
            "trade_prob": np.clip(n_trades / history_days, *TRADES_PER_DAY_BOUNDS),
            "meet_prob": np.clip(meet, 0.05, 0.95),
            "deposit_minor": np.maximum((0.5 * assets).astype(np.int64), 10_000),
            "basket": baskets,
        }
    )


def _baskets(trades: pd.DataFrame, cids: np.ndarray, instrument_ids: dict[str, int]) -> list[list[int]]:
    known = trades[trades["ticker"].isin(list(instrument_ids))]
    counts = known.groupby(["customer_id", "ticker"]).size().rename("n").reset_index()
    counts = counts.sort_values(["customer_id", "n", "ticker"], ascending=[True, False, True])
    top = counts.groupby("customer_id").head(BASKET_MAX)
    by_customer = top.groupby("customer_id")["ticker"].apply(list).to_dict()
    fallback = sorted(instrument_ids.values())[:BASKET_MAX]
    return [sorted(instrument_ids[t] for t in by_customer.get(c, [])) or fallback for c in cids]


def decide_applications(
    apps: pd.DataFrame, tables: dict[str, pd.DataFrame], champions: Any, policy: Any, instruments: Any
) -> pd.DataFrame:
    """The serving path's decision for each application: the one feature code
    (``features.builders``), the champion models (``models.bundle.ChampionSet``) and
    ``pricing.decision.decide`` through the batch job's own input assembly."""
    from features.builders import build_features
    from pipelines.decide_batch import decided_frame, decision_frame

    if apps.empty:
        return pd.DataFrame()
    feats = build_features({**tables, "applications": apps}, instruments)
    scored = champions.score(feats[champions.feature_names].to_numpy(dtype=np.float64), with_reasons=False)
    frame = pd.DataFrame(
        {
            "application_id": feats["application_id"].to_numpy(),
            "pd_12m": scored.pd_12m,
            "grade": scored.grade,
            "lgd": scored.lgd,
            "ccf": scored.ccf,
        }
    )
    decided = decided_frame(decision_frame(frame, feats, tables), policy)
    dates = apps.set_index("application_id")["application_date"]
    decided["application_date"] = decided["application_id"].map(dates).to_numpy()
    return decided


__all__ = ["PriceBook", "decide_applications", "traits"]
