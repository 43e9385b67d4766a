"""Market regimes from price panels: EWMA and moving-window volatility, CUSUM, hysteresis.

Pure numpy over ``[days × instruments]`` arrays; the loop is over days only (each step is a
handful of vector operations over all instruments), and the same one-day step serves the
whole-history computation and the live update (``RegimeTracker.update``), so the backtest
and production cannot disagree.

Conventions, so that every number can be recomputed by hand:

* EWMA variance (RiskMetrics): ``v_t = λ v_{t−1} + (1 − λ) r_t²``, seeded with the first
  ``window`` days' mean square; volatility is annualised with √252.
* Moving-window volatility: the sample standard deviation of the last ``window`` returns.
* CUSUM (Page, two-sided) on a standardised series z: ``S⁺_t = max(0, S⁺_{t−1} + z_t − k)``,
  ``S⁻_t = max(0, S⁻_{t−1} − z_t − k)``; an alarm when either exceeds h, after which that side
  restarts from 0. Returns are standardised by the baseline volatility known the day before,
  log volume by the baseline mean and standard deviation known the day before.
* Levels 0 calm, 1 stressed, 2 crisis. A level is entered at once when the statistic reaches
  its entry threshold (a CUSUM alarm on falling returns or surging volume lifts calm to
  stressed); it is left one step at a time, and only after the statistic has stayed below
  ``exit_ratio × entry`` for ``cooldown_days`` trading days in a row. A noisy statistic that
  crosses a threshold back and forth therefore moves the level once, not every day.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from creditdesk.errors import InputError
from margin.controls_policy import RegimeDetection

TRADING_DAYS_PER_YEAR = 252
CALM, STRESSED, CRISIS = 0, 1, 2


def ewma_variance(returns: np.ndarray, lam: float, seed_var: np.ndarray) -> np.ndarray:
    """[days × n] EWMA variance after each day's return (RiskMetrics recursion)."""
    out = np.empty_like(returns, dtype=np.float64)
    v = np.asarray(seed_var, dtype=np.float64).copy()
    for t in range(returns.shape[0]):
        v = lam * v + (1.0 - lam) * returns[t] ** 2
        out[t] = v
    return out


def window_volatility(returns: np.ndarray, window: int) -> np.ndarray:
    """[days × n] sample std of the last ``window`` returns (NaN before a full window)."""
    if window < 2:
        raise InputError("window must be at least 2 days", field="window_days")
    r = np.asarray(returns, dtype=np.float64)
    c1 = np.vstack([np.zeros((1, *r.shape[1:])), np.cumsum(r, axis=0)])
    c2 = np.vstack([np.zeros((1, *r.shape[1:])), np.cumsum(r * r, axis=0)])
    s1 = c1[window:] - c1[:-window]
    s2 = c2[window:] - c2[:-window]
    var = np.maximum((s2 - s1 * s1 / window) / (window - 1), 0.0)
    out = np.full(r.shape, np.nan)
    out[window - 1 :] = np.sqrt(var)
    return out


def cusum_step(
    upper: np.ndarray, lower: np.ndarray, z: np.ndarray, k: float, h: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One day of two-sided CUSUM: new (S⁺, S⁻) and the up/down alarms (side reset after alarm)."""
    z = np.nan_to_num(z, nan=0.0)
    up = np.maximum(0.0, upper + z - k)
    dn = np.maximum(0.0, lower - z - k)
    alarm_up, alarm_dn = up > h, dn > h
    return np.where(alarm_up, 0.0, up), np.where(alarm_dn, 0.0, dn), alarm_up, alarm_dn


@dataclass(frozen=True)
class Cusum:
    upper: np.ndarray  # S⁺ before any reset on that day (what crossed h)
    lower: np.ndarray
    alarm_up: np.ndarray
    alarm_down: np.ndarray


def cusum(z: np.ndarray, k: float, h: float) -> Cusum:
    """Two-sided CUSUM over a standardised series [days] or [days × n]."""
    z = np.asarray(z, dtype=np.float64)
    shape = z.shape[1:]
    up, dn = np.zeros(shape), np.zeros(shape)
    cols = {name: np.zeros(z.shape) for name in ("upper", "lower")}
    alarms = {name: np.zeros(z.shape, dtype=bool) for name in ("up", "down")}
    for t in range(z.shape[0]):
        zt = np.nan_to_num(z[t], nan=0.0)
        cols["upper"][t] = np.maximum(0.0, up + zt - k)
        cols["lower"][t] = np.maximum(0.0, dn - zt - k)
        up, dn, alarms["up"][t], alarms["down"][t] = cusum_step(up, dn, z[t], k, h)
    return Cusum(cols["upper"], cols["lower"], alarms["up"], alarms["down"])


def hysteresis_step(
    level: np.ndarray,
    below_days: np.ndarray,
    stat: np.ndarray,
    entry: np.ndarray,
    exit_ratio: float,
    cooldown_days: int,
    floor: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """One day of the level machine; ``entry`` holds each level's entry threshold (ascending).

    ``floor`` (e.g. a CUSUM alarm lifting to stressed) is a level the day's candidate cannot
    be below. Returns the new level and the count of consecutive days below the exit line.
    """
    candidate = np.searchsorted(entry, stat, side="right")  # levels whose entry ≤ stat
    candidate = np.where(np.isnan(stat), 0, candidate)
    if floor is not None:
        candidate = np.maximum(candidate, floor)
    up = candidate > level
    exit_line = np.where(level > 0, entry[np.maximum(level - 1, 0)] * exit_ratio, -np.inf)
    quiet = (stat < exit_line) & (candidate < level) & ~up
    below = np.where(quiet, below_days + 1, 0)
    step_down = below >= cooldown_days
    new_level = np.where(up, candidate, np.where(step_down, level - 1, level))
    return new_level.astype(np.int8), np.where(step_down | up, 0, below)


def hysteresis_levels(
    stat: np.ndarray,
    entry: np.ndarray,
    exit_ratio: float,
    cooldown_days: int,
    floor: np.ndarray | None = None,
) -> np.ndarray:
    """Levels over a whole series [days] or [days × n], starting calm."""
    stat = np.asarray(stat, dtype=np.float64)
    entry = np.asarray(entry, dtype=np.float64)
    if np.any(np.diff(entry) <= 0):
        raise InputError("entry thresholds must increase with the level", field="entry")
    level = np.zeros(stat.shape[1:], dtype=np.int8)
    below = np.zeros(stat.shape[1:], dtype=np.int64)
    out = np.zeros(stat.shape, dtype=np.int8)
    for t in range(stat.shape[0]):
        f = None if floor is None else floor[t]
        level, below = hysteresis_step(level, below, stat[t], entry, exit_ratio, cooldown_days, f)
        out[t] = level
    return out


def index_returns(returns: np.ndarray) -> np.ndarray:
    """Equal-weighted index of the panel (the S&P file has no index series)."""
    return np.nanmean(returns, axis=1)


@dataclass(frozen=True)
class Timeline:
    """Day-by-day regime of the market and per-instrument statistics."""

    level: np.ndarray  # [days] int8, market level
    index_vol_annual: np.ndarray  # [days] the statistic the level follows
    index_window_vol_annual: np.ndarray  # [days]
    cusum_return_down: np.ndarray  # [days] bool alarm: returns drifting down
    cusum_volume_up: np.ndarray  # [days] bool alarm: volume surging
    cusum_sd: np.ndarray  # [days] the larger of the two CUSUM sums (returns down, volume up), in sd
    instrument_vol_annual: np.ndarray  # [days × n] EWMA
    vol_percentile: np.ndarray  # [days × n] cross-sectional rank in (0, 1]


def _lagged_baseline(x: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std of the previous ``window`` days (known before day t), NaN until enough."""
    mean = np.full(x.shape, np.nan)
    std = np.full(x.shape, np.nan)
    c1 = np.concatenate([[0.0], np.cumsum(x)])
    c2 = np.concatenate([[0.0], np.cumsum(x * x)])
    t = np.arange(window, len(x))
    s1 = c1[t] - c1[t - window]
    s2 = c2[t] - c2[t - window]
    mean[t] = s1 / window
    std[t] = np.sqrt(np.maximum((s2 - s1 * s1 / window) / (window - 1), 0.0))
    return mean, std


def vol_percentile(vol: np.ndarray) -> np.ndarray:
    """Cross-sectional percentile rank per day, in (0, 1] (highest volatility = 1)."""
    order = np.argsort(np.argsort(vol, axis=-1, kind="stable"), axis=-1, kind="stable")
    return (order + 1) / vol.shape[-1]


def regime_timeline(returns: np.ndarray, volume: np.ndarray, policy: RegimeDetection) -> Timeline:
    """The whole history: index statistics, CUSUM alarms, levels, per-name volatility ranks."""
    if returns.ndim != 2 or volume.shape != returns.shape:
        raise InputError("returns and volume must be [days × instruments] of one shape", field="returns")
    w, lam = policy.window_days, policy.ewma_lambda
    if returns.shape[0] <= w:
        raise InputError(f"need more than window_days={w} days of returns", field="returns")
    ann = np.sqrt(TRADING_DAYS_PER_YEAR)
    idx = index_returns(returns)
    idx_vol = np.sqrt(ewma_variance(idx[:, None], lam, np.array([np.mean(idx[1 : w + 1] ** 2)])))[:, 0] * ann
    idx_wvol = window_volatility(idx[:, None], w)[:, 0] * ann
    seed = np.mean(returns[1 : w + 1] ** 2, axis=0)
    inst_vol = np.sqrt(ewma_variance(returns, lam, seed)) * ann
    base_mean, base_std = _lagged_baseline(idx, min(policy.baseline_days, len(idx) - 1))
    z_ret = (idx - np.nan_to_num(base_mean)) / np.where(base_std > 0, base_std, np.nan)
    log_vol = np.log(np.maximum(np.nansum(volume, axis=1), 1.0))
    vmean, vstd = _lagged_baseline(log_vol, min(policy.baseline_days, len(idx) - 1))
    z_vol = (log_vol - vmean) / np.where(vstd > 0, vstd, np.nan)
    c_ret = cusum(z_ret, policy.cusum_k, policy.cusum_h)
    c_vol = cusum(z_vol, policy.cusum_k, policy.cusum_h)
    alarm = c_ret.alarm_down | c_vol.alarm_up
    entry = np.array([policy.stressed_vol_annual, policy.crisis_vol_annual])
    level = hysteresis_levels(
        idx_vol, entry, policy.exit_ratio, policy.cooldown_days, floor=alarm.astype(np.int8)
    )
    return Timeline(
        level,
        idx_vol,
        idx_wvol,
        c_ret.alarm_down,
        c_vol.alarm_up,
        np.maximum(c_ret.lower, c_vol.upper),
        inst_vol,
        vol_percentile(inst_vol),
    )


@dataclass
class RegimeTracker:
    """The live, one-day-at-a-time form of ``regime_timeline``'s market level and EWMA volatilities.

    State is a few vectors per instrument; ``update`` costs O(instruments) and no history.
    """

    policy: RegimeDetection
    inst_var: np.ndarray  # EWMA variance per instrument
    index_var: float
    cusum_up: float = 0.0
    cusum_dn: float = 0.0
    base_mean: float = 0.0  # baseline of index returns (refreshed by the caller, e.g. monthly)
    base_std: float = 0.01
    level: int = CALM
    below_days: int = 0

    def update(self, returns_today: np.ndarray) -> int:
        """Fold one day's returns in; the new market level."""
        lam = self.policy.ewma_lambda
        self.inst_var = lam * self.inst_var + (1.0 - lam) * returns_today * returns_today
        r = float(np.nanmean(returns_today))
        self.index_var = lam * self.index_var + (1.0 - lam) * r * r
        z = np.array([(r - self.base_mean) / self.base_std])
        up, dn, _, alarm_dn = cusum_step(
            np.array([self.cusum_up]), np.array([self.cusum_dn]), z, self.policy.cusum_k, self.policy.cusum_h
        )
        self.cusum_up, self.cusum_dn = float(up[0]), float(dn[0])
        stat = np.array([np.sqrt(self.index_var * TRADING_DAYS_PER_YEAR)])
        entry = np.array([self.policy.stressed_vol_annual, self.policy.crisis_vol_annual])
        lvl, below = hysteresis_step(
            np.array([self.level]),
            np.array([self.below_days]),
            stat,
            entry,
            self.policy.exit_ratio,
            self.policy.cooldown_days,
            alarm_dn.astype(np.int8),
        )
        self.level, self.below_days = int(lvl[0]), int(below[0])
        return self.level

    def vol_percentile(self) -> np.ndarray:
        return vol_percentile(np.sqrt(self.inst_var))
