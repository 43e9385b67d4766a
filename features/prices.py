"""Daily price paths: the real S&P 500 panel from ``../shared/datasets/sp500_prices``, or a
documented simulation when that folder is absent.

A ``PricePanel`` is dense (days × tickers) so that margin simulations, VaR and stress runs
index it with numpy instead of joining frames. Prices are ``adjusted_close`` (split- and
dividend-adjusted), the only column that gives true returns. Volume in the data is raw
shares on the day's own split basis, so it never meets the adjusted prices directly: money
traded = raw close × raw volume is the same on either side of a split (AAPL 7:1 on
2014-06-09, 4:1 on 2020-08-31), and shares on the adjusted basis are that money / the
adjusted close (``traded_money``, ``adjusted_volume``). Only tickers with a complete
history over the requested window are kept: that adds survivorship bias on top of the
dataset's own (2021 members only), which is fine for margin stress and must be said in any
report built on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from creditdesk.errors import InputError


@dataclass(frozen=True)
class PricePanel:
    dates: np.ndarray  # datetime64[ns], ascending trading days
    tickers: np.ndarray  # str, one per column
    close: np.ndarray  # float64 [days, tickers], adjusted close, no NaN
    volume: np.ndarray  # float64 [days, tickers], shares traded
    sectors: np.ndarray  # str, one per column
    source: str  # "sp500" or "simulated"
    money_volume: np.ndarray | None = None  # float64 [days, tickers], raw close × raw volume

    @property
    def traded_money(self) -> np.ndarray:
        """Money traded per day (currency units), split-invariant; the simulation's volume is
        already on its price's basis, so there it is close × volume."""
        return self.close * self.volume if self.money_volume is None else self.money_volume

    @property
    def adjusted_volume(self) -> np.ndarray:
        """Shares traded on the adjusted prices' basis: money traded / adjusted close."""
        return self.traded_money / self.close

    @property
    def returns(self) -> np.ndarray:
        """Simple daily returns, row 0 is zero so rows stay aligned with ``dates``."""
        out = np.zeros_like(self.close)
        out[1:] = self.close[1:] / self.close[:-1] - 1.0
        return out

    def window(self, start: str | pd.Timestamp, end: str | pd.Timestamp) -> PricePanel:
        mask = (self.dates >= np.datetime64(pd.Timestamp(start))) & (
            self.dates <= np.datetime64(pd.Timestamp(end))
        )
        if not mask.any():
            raise InputError(f"no trading days between {start} and {end} in the {self.source} prices")
        money = None if self.money_volume is None else self.money_volume[mask]
        return PricePanel(
            self.dates[mask],
            self.tickers,
            self.close[mask],
            self.volume[mask],
            self.sectors,
            self.source,
            money,
        )


def load_sp500_panel(path: Path, start: str = "2001-01-01", end: str | None = None) -> PricePanel:
    """Dense panel of the tickers with a complete history between ``start`` and ``end``."""
    if not path.exists():
        raise InputError(f"price file not found: {path}")
    filters = [("date", ">=", pd.Timestamp(start))]
    if end is not None:
        filters.append(("date", "<=", pd.Timestamp(end)))
    columns = ["date", "ticker", "close", "adjusted_close", "volume"]
    frame = pd.read_parquet(path, columns=columns, filters=filters)
    if frame.empty:
        raise InputError(f"{path}: no prices in the requested window")
    frame["date"] = pd.to_datetime(frame["date"])
    close = frame.pivot_table(
        index="date", columns="ticker", values="adjusted_close", aggfunc="last", observed=True
    )
    volume = frame.pivot_table(index="date", columns="ticker", values="volume", aggfunc="last", observed=True)
    frame["money"] = frame["close"] * frame["volume"]  # raw price × raw shares: split-invariant
    money = frame.pivot_table(index="date", columns="ticker", values="money", aggfunc="last", observed=True)
    complete = close.columns[close.notna().all() & (close > 0).all()]
    close = close[complete].sort_index()
    volume = volume.reindex(index=close.index, columns=complete).fillna(0.0)
    money = money.reindex(index=close.index, columns=complete).fillna(0.0)
    sectors = np.full(len(complete), "unknown", dtype=object)
    constituents = path.parent / "constituents.csv"
    if constituents.exists():
        meta = pd.read_csv(constituents)
        lower = {c.lower(): c for c in meta.columns}
        if "ticker" in lower and "sector" in lower:
            mapping = dict(zip(meta[lower["ticker"]], meta[lower["sector"]], strict=False))
            sectors = np.array([str(mapping.get(t, "unknown")) for t in complete], dtype=object)
    return PricePanel(
        dates=close.index.values.astype("datetime64[ns]"),
        tickers=np.array(complete, dtype=object),
        close=close.to_numpy(dtype=np.float64),
        volume=volume.to_numpy(dtype=np.float64),
        sectors=sectors,
        source="sp500",
        money_volume=money.to_numpy(dtype=np.float64),
    )


def simulate_panel(
    seed: int = 7,
    n_tickers: int = 120,
    start: str = "2001-01-01",
    end: str = "2021-04-21",
) -> PricePanel:
    """A one-factor market with fat tails and two crash episodes, for machines without the data.

    Daily return of name j: r = beta_j * m_t + e_jt, with the market m_t Student-t (4 dof)
    scaled to 1.1% daily volatility (3.5% in a crash window: Sep 2008-Mar 2009 and
    Feb-Apr 2020, with a negative drift), idiosyncratic e_jt Student-t scaled to a
    per-name volatility between 1% and 3.5% daily. Volume is log-normal around a
    per-name average. The shape, not the exact numbers, is what the simulations need.
    """
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range(start, end).values.astype("datetime64[ns]")
    n_days = len(dates)
    crash = ((dates >= np.datetime64("2008-09-01")) & (dates <= np.datetime64("2009-03-31"))) | (
        (dates >= np.datetime64("2020-02-15")) & (dates <= np.datetime64("2020-04-15"))
    )
    t4 = np.sqrt(2.0)  # std of Student-t with 4 dof
    market = rng.standard_t(4, n_days) / t4 * np.where(crash, 0.035, 0.011) + np.where(crash, -0.003, 0.0003)
    beta = rng.uniform(0.6, 1.6, n_tickers)
    idio_vol = rng.uniform(0.01, 0.035, n_tickers)
    idio = rng.standard_t(4, (n_days, n_tickers)) / t4 * idio_vol
    returns = np.clip(market[:, None] * beta + idio, -0.6, 0.6)
    returns[0] = 0.0
    close = 20.0 * rng.uniform(0.5, 5.0, n_tickers) * np.cumprod(1.0 + returns, axis=0)
    adv = np.exp(rng.normal(14.5, 1.0, n_tickers))
    volume = adv * np.exp(rng.normal(0.0, 0.4, (n_days, n_tickers)))
    sectors = np.array(
        rng.choice(["Industrials", "Technology", "Financials", "Health Care", "Energy"], n_tickers),
        dtype=object,
    )
    tickers = np.array([f"SIM{j:03d}" for j in range(n_tickers)], dtype=object)
    return PricePanel(dates, tickers, close, volume, sectors, "simulated")


def load_price_panel(path: Path | None, start: str = "2001-01-01", end: str | None = None) -> PricePanel:
    """The real panel when ``path`` exists, the documented simulation otherwise."""
    if path is not None and path.exists():
        return load_sp500_panel(path, start=start, end=end)
    panel = simulate_panel(start=start, end=end or "2021-04-21")
    return panel
