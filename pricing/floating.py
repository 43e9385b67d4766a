"""Floating rates: facility rate = base rate in force + spread by grade, repriced on schedule.

Why as data: a base rate (the PBOC 1-year benchmark lending rate, from August 2019 the
1-year Loan Prime Rate) is published by a third party on its own dates; the book must use
the value in force on each day, never a constant typed into code. The series is one fixing
per month (``pricing/data/base_rate_cny_1y.csv``: the rate in force on the 20th, the LPR's
publication day); a series with a missing month is refused, because a silent gap would
carry a stale rate forward for months.

Repricing (contract terms, ``FloatingTerms``): a facility's rate is set at opening to
base + spread(grade) and reset on every ``reprice_every_months`` anniversary of opening to
the new base + spread, moving by at most ``cap_bps_per_repricing`` per reset (a rate cap per
repricing period, as in capped floating-rate loans). Between resets the rate in force does
not change, whatever the base does. Interest accrues each calendar day at the rate in force
that day, with the one shared day count (``creditdesk.daycount``: ACT/360, half up).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from creditdesk.errors import InputError

DEFAULT_BASE_RATES_PATH = Path(__file__).resolve().parent / "data" / "base_rate_cny_1y.csv"
MAX_STALENESS_DAYS = 35
"""A monthly fixing is in force at most until the next one (≤ 31 days, plus a weekend shift)."""
BPS = 10_000


@dataclass(frozen=True)
class BaseRateSeries:
    """Monthly fixings of a base rate: ``fixing_days`` (datetime64[D], ascending) and ``rate_bps``."""

    name: str
    fixing_days: NDArray[np.datetime64]
    rate_bps: NDArray[np.int64]

    @property
    def first_day(self) -> dt.date:
        return pd.Timestamp(self.fixing_days[0]).date()

    @property
    def last_covered_day(self) -> dt.date:
        return (pd.Timestamp(self.fixing_days[-1]) + pd.Timedelta(days=MAX_STALENESS_DAYS)).date()

    def rate_in_force(self, days: ArrayLike) -> NDArray[np.int64]:
        """The base rate (bps) in force on each day: the latest fixing on or before it."""
        d = np.asarray(days, dtype="datetime64[D]")
        idx = np.searchsorted(self.fixing_days, d, side="right") - 1
        if np.any(idx < 0):
            raise InputError(
                f"base rate {self.name}: no fixing on or before {np.min(d)} (series starts {self.first_day})",
                field="base_rates",
            )
        stale = (d - self.fixing_days[idx]).astype(np.int64) > MAX_STALENESS_DAYS
        if np.any(stale):
            raise InputError(
                f"base rate {self.name}: no fixing in force on {d[stale][0]}"
                f" (series ends {self.fixing_days[-1]})",
                field="base_rates",
            )
        return self.rate_bps[idx]


def base_rate_series(
    months: Sequence[str], fixing_days: ArrayLike, rate_bps: ArrayLike, name: str = "base"
) -> BaseRateSeries:
    """Validate a monthly series: one fixing per month, no month missing, rates in [0, 100 %]."""
    if len(months) == 0:
        raise InputError(f"base rate {name}: the series is empty", field="base_rates")
    periods = pd.PeriodIndex(list(months), freq="M")
    fixes = np.asarray(fixing_days, dtype="datetime64[D]")
    rates = np.asarray(rate_bps, dtype=np.int64)
    if not len(periods) == len(fixes) == len(rates):
        raise InputError(
            f"base rate {name}: month, fixing_date and rate_bps differ in length", field="base_rates"
        )
    steps = np.diff(periods.asi8)
    if np.any(steps <= 0):
        raise InputError(f"base rate {name}: months must be unique and ascending", field="base_rates")
    if np.any(steps > 1):
        gap = int(np.argmax(steps > 1))
        raise InputError(
            f"base rate {name}: gap in the series after {periods[gap]} (next fixing {periods[gap + 1]})",
            field="base_rates",
        )
    fix_periods = pd.PeriodIndex(pd.DatetimeIndex(fixes), freq="M")
    if np.any(fix_periods.asi8 != periods.asi8):
        raise InputError(f"base rate {name}: a fixing_date falls outside its month", field="base_rates")
    if np.any((rates < 0) | (rates > BPS)):
        raise InputError(f"base rate {name}: rate_bps must lie in [0, 10000]", field="base_rates")
    return BaseRateSeries(name, fixes, rates)


def load_base_rates(path: Path | None = None) -> BaseRateSeries:
    """Read a base-rate CSV (``month,fixing_date,rate_bps``); refuse a gap or a malformed file."""
    path = Path(path) if path is not None else DEFAULT_BASE_RATES_PATH
    if not path.is_file():
        raise InputError(f"{path}: base-rate file not found", field="base_rates")
    try:
        frame = pd.read_csv(path, dtype={"month": str, "fixing_date": str})
        fixes = pd.to_datetime(frame["fixing_date"], format="%Y-%m-%d").to_numpy()
        rates = frame["rate_bps"].to_numpy()
    except (KeyError, ValueError) as exc:
        raise InputError(f"{path}: needs columns month, fixing_date (YYYY-MM-DD), rate_bps ({exc})") from exc
    if not np.issubdtype(rates.dtype, np.integer):
        raise InputError(f"{path}: rate_bps must be whole basis points", field="base_rates")
    return base_rate_series(frame["month"].tolist(), fixes, rates, name=path.stem)


@dataclass(frozen=True)
class FloatingTerms:
    """Contract terms of a floating-rate line (bps). Spreads by grade 1..10 (worse grade, wider)."""

    spread_bps_by_grade: tuple[int, ...] = (150, 175, 200, 250, 300, 350, 425, 500, 600, 700)
    reprice_every_months: int = 3
    cap_bps_per_repricing: int = 50
    floor_bps: int = 0

    def __post_init__(self) -> None:
        spreads = np.asarray(self.spread_bps_by_grade)
        if len(spreads) != 10 or np.any(np.diff(spreads) < 0) or np.any(spreads < 0):
            raise InputError(
                "spread_bps_by_grade: ten non-negative spreads, never narrower for a worse grade"
            )
        if not 1 <= self.reprice_every_months <= 12 or self.cap_bps_per_repricing < 0:
            raise InputError("reprice_every_months in 1..12 and cap_bps_per_repricing ≥ 0")

    def spread_bps(self, grade: ArrayLike) -> NDArray[np.int64]:
        g = np.asarray(grade, dtype=np.int64)
        if np.any((g < 1) | (g > 10)):
            raise InputError("grade must be a performing grade 1..10", field="grade")
        return np.asarray(self.spread_bps_by_grade, dtype=np.int64)[g - 1]


def initial_rate_bps(
    series: BaseRateSeries, terms: FloatingTerms, grade: ArrayLike, opened: ArrayLike
) -> NDArray[np.int64]:
    """Rate at opening: base in force that day + spread(grade), never below the floor."""
    return np.maximum(series.rate_in_force(opened) + terms.spread_bps(grade), terms.floor_bps)


def repricing_day(opened: ArrayLike, k: ArrayLike, months: int) -> NDArray[np.datetime64]:
    """The k-th reset: k × months after opening, the day of month clamped to the month's end."""
    o = pd.DatetimeIndex(np.asarray(opened, dtype="datetime64[ns]"))
    kk = np.broadcast_to(np.asarray(k, dtype=np.int64), o.shape)
    out = [ts + pd.DateOffset(months=int(n) * months) for ts, n in zip(o, kk, strict=True)]
    return np.asarray(pd.DatetimeIndex(out).values, dtype="datetime64[D]")


def reprice(current_bps: ArrayLike, target_bps: ArrayLike, terms: FloatingTerms) -> NDArray[np.int64]:
    """Move each rate toward base + spread by at most the cap per repricing."""
    cur = np.asarray(current_bps, dtype=np.int64)
    step = np.clip(
        np.asarray(target_bps, dtype=np.int64) - cur,
        -terms.cap_bps_per_repricing,
        terms.cap_bps_per_repricing,
    )
    return np.maximum(cur + step, terms.floor_bps)


def rate_path_bps(
    series: BaseRateSeries, terms: FloatingTerms, grade: int, opened: dt.date, days: ArrayLike
) -> NDArray[np.int64]:
    """The rate in force on each of ``days`` (ascending, ≥ opened) for one facility."""
    d = np.asarray(days, dtype="datetime64[D]")
    if len(d) and (d[0] < np.datetime64(opened, "D") or np.any(np.diff(d).astype(np.int64) < 0)):
        raise InputError("days must be ascending and on or after the opening day", field="days")
    rate = int(initial_rate_bps(series, terms, [grade], [np.datetime64(opened, "D")])[0])
    spread = int(terms.spread_bps([grade])[0])
    out = np.empty(len(d), dtype=np.int64)
    k = 1
    reset = repricing_day([np.datetime64(opened, "D")], k, terms.reprice_every_months)[0]
    for i, day in enumerate(d):
        while day >= reset:  # a reset falls due on its day (catching up if days skip it)
            base = int(series.rate_in_force([reset])[0])
            rate = int(reprice([rate], [base + spread], terms)[0])
            k += 1
            reset = repricing_day([np.datetime64(opened, "D")], k, terms.reprice_every_months)[0]
        out[i] = rate
    return out


__all__ = [
    "DEFAULT_BASE_RATES_PATH",
    "BaseRateSeries",
    "FloatingTerms",
    "base_rate_series",
    "initial_rate_bps",
    "load_base_rates",
    "rate_path_bps",
    "reprice",
    "repricing_day",
]
