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
  of the main board: a name at limit-down cannot be sold that day.

The S&P list holds 2021 members only (survivorship bias): real crash losses of names that
later left the index are missing, so losses here are a lower bound.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from creditdesk.errors import InputError
from creditdesk.price_limits import price_limit
from margin.controls_policy import RiskControlsPolicy
from margin.engine import CONVERSION_RATE_BY_KIND, Status, evaluate, regime
from margin.replay import replay, synthetic_book
from margin.risk import STRESS_SCENARIOS, backtest, pnl_scenarios, stress, var_es
from pipelines.stress_controls import compare_controls

LOOKBACK_DAYS = 300


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
) -> dict[str, Any]:
    from creditdesk.settings import get_settings
    from features.prices import load_price_panel

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
    reg = regime(regime_name)
    path = prices_path or get_settings().sp500_prices_path
    lookback_start = (t0 - pd.tseries.offsets.BDay(LOOKBACK_DAYS + 40)).strftime("%Y-%m-%d")
    panel = load_price_panel(path if Path(path).exists() else None, lookback_start, t1.strftime("%Y-%m-%d"))
    first = int(np.searchsorted(panel.dates, np.datetime64(t0)))
    if first >= len(panel.dates) - 1:
        raise InputError(f"no trading days between {start} and {end} in the {panel.source} prices")
    if first < 260:
        raise InputError(f"need 260 trading days of prices before {start} for VaR; the data starts too late")
    close = panel.close
    returns = panel.returns
    # ADV in shares on the adjusted prices' basis (money traded / adjusted close): raw share
    # volume against split-adjusted prices made sale caps ~30x too tight for split names
    adv = pd.DataFrame(panel.adjusted_volume).rolling(20, min_periods=1).mean().shift(1).bfill().to_numpy()
    vol = pd.DataFrame(returns).rolling(20, min_periods=5).std().shift(1).fillna(0.02).to_numpy()
    conv = np.full(close.shape[1], CONVERSION_RATE_BY_KIND["index_constituent"])
    book = synthetic_book(n_accounts, close[first], seed=seed)

    # risk on the eve of the window: 250 days of history, today's book
    history = returns[first - 250 : first]
    pnl = pnl_scenarios(book, close[first], history)
    var_acc, es_acc = var_es(pnl)
    book_pnl_hist = pnl.sum(axis=1)
    var_book, es_book = var_es(book_pnl_hist)
    # static-book P&L over lookback + window, to backtest the rolling VaR inside the window
    held = np.bincount(book.pos_instrument, weights=book.pos_quantity, minlength=close.shape[1])
    daily_pnl = (held * (close[1:] - close[:-1])).sum(axis=1)
    window_days = len(panel.dates) - first
    bt = backtest(daily_pnl[first - 251 :], window=250, last=min(window_days - 1, 250))

    ev0 = evaluate(book, close[first], conv, reg)
    scenarios = []
    for sc in STRESS_SCENARIOS.values():
        res = stress(book, close[first], conv, adv[first], vol[first], reg, sc)
        scenarios.append(
            {
                "scenario": sc.name,
                "shock": sc.shock,
                "liquidity": sc.liquidity,
                **{f"accounts_{s.name.lower()}": int((res.status == s).sum()) for s in Status},
                "loss_if_all_sold_minor": float(res.loss_minor.sum()),
            }
        )
    replay_args = {
        "book": book,
        "close": close[first:],
        "adv_shares": adv[first:],
        "volatility": vol[first:],
        "conversion_rate": conv,
        "reg": reg,
        "topup_probability": topup_probability,
        "adv_share": adv_share,
        "seed": seed,
        "dates": panel.dates[first:],
        # cn: every S&P name stands for a main-board share (±10 %); us has no daily limits
        "price_limit": price_limit("main") if reg.name == "cn" else None,
    }
    rep = replay(**replay_args)
    # the same book again under the dynamic risk controls (issue 14), side by side
    controls = compare_controls(
        rep,
        replay_args,
        panel.dates,
        panel.tickers,
        returns,
        panel.adjusted_volume,
        first,
        reg,
        controls_policy,
    )
    days = pd.DataFrame(
        {
            "date": pd.to_datetime(panel.dates[first:]).strftime("%Y-%m-%d"),
            **{k: v for k, v in asdict(rep).items() if k not in ("day_index", "totals")},
        }
    )
    for col in (
        "warnings",
        "in_call",
        "calls_issued",
        "calls_met",
        "liquidations_started",
        "liquidating",
        "shortfalls",
        "locked_names",
    ):
        days[col] = days[col].astype(int)
    return {
        "from": start,
        "to": end,
        "price_source": panel.source,
        "tickers": int(close.shape[1]),
        "trading_days": int(window_days),
        "regime": reg.name,
        "accounts": n_accounts,
        "seed": seed,
        "start_status": {s.name.lower(): int((ev0.status == s).sum()) for s in Status},
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
        "scenarios": scenarios,
        "totals": rep.totals,
        "static": controls["static"],
        "dynamic": controls["dynamic"],
        "regime_timeline": controls["regime"],
        "days": days,
    }
