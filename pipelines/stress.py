"""The ``creditdesk stress`` job: a book of margin accounts through real market history.

Loads the S&P 500 panel (real prices from ``../shared/datasets/sp500_prices``; a documented
simulation when absent) for the window plus 300 trading days before it, derives per-name
average daily volume and volatility (20-day, known at each date), builds a synthetic book
at the first day's prices, and reports:

* VaR 99 % / ES 97.5 % of the book and the mean per account on the eve of the window
  (250 days of history), and the backtest of that static book over the window
  (Kupiec, Basel traffic light);
* the three stress scenarios (mild −5 %, severe −10 %, crash −20 % with halved liquidity)
  applied to the starting book;
* the day-by-day replay: warnings, calls issued / met, liquidations, shortfalls and losses,
  with interest on every calendar day (ACT/360) and, for ``cn``, the ±10 % daily price limit
  of the main board: a name at limit-down cannot be sold that day. Liquidations run as
  schedules (``margin.schedules``) against each day's real volume, the book sharing one
  participation cap per name; the report gives their realised vs expected shortfall.

The S&P list holds 2021 members only (survivorship bias): real crash losses of names that
later left the index are missing, so losses here are a lower bound.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from creditdesk.errors import InputError
from creditdesk.price_limits import price_limit
from margin.controls_policy import RiskControlsPolicy
from margin.engine import CONVERSION_RATE_BY_KIND, Book, Regime, Status, evaluate, regime
from margin.replay import ReplayReport, replay, synthetic_book
from margin.risk import STRESS_SCENARIOS, backtest, pnl_scenarios, stress, var_es
from margin.schedules import ONE_SHOT, SchedulePolicy
from pipelines.stress_controls import compare_controls

LOOKBACK_DAYS = 300
INT_DAY_COLUMNS = (
    "warnings",
    "in_call",
    "calls_issued",
    "calls_met",
    "liquidations_started",
    "liquidating",
    "shortfalls",
    "locked_names",
)


@dataclass(frozen=True)
class Window:
    """The price panel around a stress window and what the replay derives from it."""

    dates: np.ndarray
    tickers: np.ndarray
    source: str
    close: np.ndarray
    returns: np.ndarray
    volume_shares: np.ndarray  # the day's volume on the adjusted basis
    adv_shares: np.ndarray  # 20-day average, known before each day
    volatility: np.ndarray  # 20-day, known before each day
    first: int  # row of the window's first day


def _check_args(start: str, end: str, n_accounts: int, topup_probability: float) -> None:
    try:
        t0, t1 = pd.Timestamp(start), pd.Timestamp(end)
    except ValueError as exc:
        raise InputError(f"--from/--to must be dates (YYYY-MM-DD): {exc}") from exc
    if t1 <= t0:
        raise InputError(f"--to ({end}) must be after --from ({start})")
    if not 1 <= n_accounts <= 1_000_000:
        raise InputError("--accounts must be between 1 and 1,000,000")
    if not 0.0 <= topup_probability <= 1.0:
        raise InputError("--topup-probability must be between 0 and 1")


def load_window(start: str, end: str, prices_path: Path | None = None) -> Window:
    """Prices for the window plus the look-back; ADV and volatility known at each date."""
    from creditdesk.settings import get_settings
    from features.prices import load_price_panel

    t0, t1 = pd.Timestamp(start), pd.Timestamp(end)
    path = prices_path or get_settings().sp500_prices_path
    lookback_start = (t0 - pd.tseries.offsets.BDay(LOOKBACK_DAYS + 40)).strftime("%Y-%m-%d")
    panel = load_price_panel(path if Path(path).exists() else None, lookback_start, t1.strftime("%Y-%m-%d"))
    first = int(np.searchsorted(panel.dates, np.datetime64(t0)))
    if first >= len(panel.dates) - 1:
        raise InputError(f"no trading days between {start} and {end} in the {panel.source} prices")
    if first < 260:
        raise InputError(f"need 260 trading days of prices before {start} for VaR; the data starts too late")
    # ADV in shares on the adjusted prices' basis (money traded / adjusted close): raw share
    # volume against split-adjusted prices made sale caps ~30x too tight for split names
    volume = np.asarray(panel.adjusted_volume, dtype=np.float64)
    adv = pd.DataFrame(volume).rolling(20, min_periods=1).mean().shift(1).bfill().to_numpy()
    vol = pd.DataFrame(panel.returns).rolling(20, min_periods=5).std().shift(1).fillna(0.02).to_numpy()
    return Window(
        panel.dates, panel.tickers, panel.source, panel.close, panel.returns, volume, adv, vol, first
    )


def replay_args(
    w: Window, book: Book, reg: Regime, topup_probability: float, seed: int, schedule: SchedulePolicy
) -> dict[str, Any]:
    """The replay's inputs over the window (shared by the static, dynamic and schedule runs)."""
    f = w.first
    return {
        "book": book,
        "close": w.close[f:],
        "adv_shares": w.adv_shares[f:],
        "volatility": w.volatility[f:],
        "conversion_rate": np.full(w.close.shape[1], CONVERSION_RATE_BY_KIND["index_constituent"]),
        "reg": reg,
        "topup_probability": topup_probability,
        "seed": seed,
        "dates": w.dates[f:],
        # cn: every S&P name stands for a main-board share (±10 %); us has no daily limits
        "price_limit": price_limit("main") if reg.name == "cn" else None,
        "schedule": schedule,
        "day_volume_shares": np.nan_to_num(w.volume_shares[f:], nan=0.0),
    }


def risk_on_the_eve(w: Window, book: Book) -> dict[str, Any]:
    """VaR / ES with 250 days of history before the window, and the static book's backtest."""
    f = w.first
    pnl = pnl_scenarios(book, w.close[f], w.returns[f - 250 : f])
    var_acc, es_acc = var_es(pnl)
    var_book, es_book = var_es(pnl.sum(axis=1))
    held = np.bincount(book.pos_instrument, weights=book.pos_quantity, minlength=w.close.shape[1])
    daily_pnl = (held * (w.close[1:] - w.close[:-1])).sum(axis=1)
    bt = backtest(daily_pnl[f - 251 :], window=250, last=min(len(w.dates) - f - 1, 250))
    return {
        "var99_book_minor": float(var_book[0]),
        "es975_book_minor": float(es_book[0]),
        "var99_account_mean_minor": float(var_acc.mean()),
        "es975_account_mean_minor": float(es_acc.mean()),
        "backtest": {
            "observations": bt.observations,
            "exceptions": bt.exceptions,
            "kupiec_lr": bt.kupiec_lr,
            "kupiec_p_value": bt.kupiec_p_value,
            "zone": bt.zone,
        },
    }


def scenarios_at_start(w: Window, book: Book, conv: np.ndarray, reg: Regime) -> list[dict[str, Any]]:
    """The mild, severe and crash scenarios applied to the starting book."""
    f, out = w.first, []
    for sc in STRESS_SCENARIOS.values():
        res = stress(book, w.close[f], conv, w.adv_shares[f], w.volatility[f], reg, sc)
        out.append(
            {
                "scenario": sc.name,
                "shock": sc.shock,
                "liquidity": sc.liquidity,
                **{f"accounts_{s.name.lower()}": int((res.status == s).sum()) for s in Status},
                "loss_if_all_sold_minor": float(res.loss_minor.sum()),
            }
        )
    return out


def days_frame(w: Window, rep: ReplayReport) -> pd.DataFrame:
    days = pd.DataFrame(
        {
            "date": pd.to_datetime(w.dates[w.first :]).strftime("%Y-%m-%d"),
            **{k: v for k, v in asdict(rep).items() if k not in ("day_index", "totals")},
        }
    )
    for col in INT_DAY_COLUMNS:
        days[col] = days[col].astype(int)
    return days


def run_stress(
    start: str,
    end: str,
    n_accounts: int = 2_000,
    regime_name: str = "cn",
    seed: int = 7,
    topup_probability: float = 0.5,
    adv_share: float = 0.10,
    prices_path: Path | None = None,
    controls_policy: RiskControlsPolicy | None = None,
    schedule: SchedulePolicy | None = None,
) -> dict[str, Any]:
    """The whole stress report for one window (see the module docstring)."""
    _check_args(start, end, n_accounts, topup_probability)
    schedule = schedule or SchedulePolicy(participation=adv_share)
    reg = regime(regime_name)
    w = load_window(start, end, prices_path)
    book = synthetic_book(n_accounts, w.close[w.first], seed=seed)
    args = replay_args(w, book, reg, topup_probability, seed, schedule)
    ev0 = evaluate(book, w.close[w.first], args["conversion_rate"], reg)
    rep = replay(**args)
    # the same book again under the dynamic risk controls (issue 14), side by side
    controls = compare_controls(
        rep, args, w.dates, w.tickers, w.returns, w.volume_shares, w.first, reg, controls_policy
    )
    return {
        "from": start,
        "to": end,
        "price_source": w.source,
        "tickers": int(w.close.shape[1]),
        "trading_days": int(len(w.dates) - w.first),
        "regime": reg.name,
        "accounts": n_accounts,
        "seed": seed,
        "schedule": asdict(schedule),
        "start_status": {s.name.lower(): int((ev0.status == s).sum()) for s in Status},
        **risk_on_the_eve(w, book),
        "scenarios": scenarios_at_start(w, book, args["conversion_rate"], reg),
        "totals": rep.totals,
        "static": controls["static"],
        "dynamic": controls["dynamic"],
        "regime_timeline": controls["regime"],
        "days": days_frame(w, rep),
    }


def compare_schedules(
    start: str,
    end: str,
    policies: dict[str, SchedulePolicy],
    n_accounts: int = 2_000,
    regime_name: str = "cn",
    seed: int = 7,
    topup_probability: float = 0.5,
    prices_path: Path | None = None,
) -> dict[str, dict[str, float]]:
    """The same book and price path replayed under each liquidation policy (and the one-shot sale)."""
    _check_args(start, end, n_accounts, topup_probability)
    reg = regime(regime_name)
    w = load_window(start, end, prices_path)
    book = synthetic_book(n_accounts, w.close[w.first], seed=seed)
    out: dict[str, dict[str, float]] = {}
    for name, policy in {**policies, "one_shot": ONE_SHOT}.items():
        out[name] = replay(**replay_args(w, book, reg, topup_probability, seed, policy)).totals
    return out
