"""The risk-control jobs at the edge: record the market regime in the books, score anomalies, reviews.

Domain work happens in ``margin.regime``, ``margin.risk_events`` and ``margin.anomaly``; these
functions only read inputs (price panel, activity file, the books), call them and write the
results through ``margin.risk_store``. Bad input raises ``InputError`` (CLI exit 2).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from creditdesk.errors import InputError
from margin.controls_policy import LEVELS, load_controls_policy
from margin.risk_events import RiskEvent

REGIME_LOOKBACK_BDAYS = 400  # a 250-day CUSUM baseline plus warm-up before the first day asked


def _new_events(events: list[RiskEvent], stored: pd.DataFrame) -> list[RiskEvent]:
    """Events later than what the books hold per scope, renumbered after the stored versions."""
    from dataclasses import replace

    last_effective = stored.groupby("scope")["effective_ns"].max().to_dict() if len(stored) else {}
    last_version = stored.groupby("scope")["version"].max().to_dict() if len(stored) else {}
    out: list[RiskEvent] = []
    for ev in events:
        if ev.effective_ns <= last_effective.get(ev.scope, -1):
            continue
        last_version[ev.scope] = int(last_version.get(ev.scope, 0)) + 1
        out.append(replace(ev, version=last_version[ev.scope]))
    return out


def record_regime(
    through: str,
    engine: Engine,
    start: str | None = None,
    prices_path: Path | None = None,
    policy_path: Path | None = None,
) -> dict[str, Any]:
    """Compute the regime timeline from prices up to ``through`` and append the new events."""
    from creditdesk.settings import get_settings
    from features.prices import load_price_panel
    from margin.regime import regime_timeline
    from margin.risk_events import regime_events
    from margin.risk_store import append_events, read_events

    try:
        t1 = pd.Timestamp(through)
        t0 = pd.Timestamp(start) if start else t1 - pd.tseries.offsets.BDay(60)
    except ValueError as exc:
        raise InputError(f"--through/--from must be dates YYYY-MM-DD: {exc}", field="through") from None
    if t0 >= t1:
        raise InputError(f"--from ({start}) must be before --through ({through})", field="from")
    policy = load_controls_policy(policy_path)
    path = prices_path or get_settings().sp500_prices_path
    lookback = (t0 - pd.tseries.offsets.BDay(REGIME_LOOKBACK_BDAYS)).strftime("%Y-%m-%d")
    panel = load_price_panel(path if Path(path).exists() else None, lookback, t1.strftime("%Y-%m-%d"))
    timeline = regime_timeline(panel.returns, panel.volume, policy.regime)
    day_ns = panel.dates.astype("datetime64[ns]").astype(np.int64)
    events = [e for e in regime_events(timeline, day_ns, panel.tickers, policy) if e.observed_ns >= t0.value]
    new = _new_events(events, read_events(engine))
    written = append_events(engine, new, policy.version)
    return {
        "from": t0.strftime("%Y-%m-%d"),
        "through": t1.strftime("%Y-%m-%d"),
        "price_source": panel.source,
        "level": LEVELS[int(timeline.level[-1])],
        "index_ewma_vol_annual": round(float(timeline.index_vol_annual[-1]), 4),
        "written": written,
        "market_events": [
            {
                "effective": pd.Timestamp(e.effective_ns).strftime("%Y-%m-%d"),
                "change": f"{e.previous} → {e.value}",
                "why": e.reason,
            }
            for e in new
            if e.scope == "market"
        ],
        "freeze_events": sum(e.kind == "buy_freeze" for e in new),
    }


def score_anomalies(
    activity_path: Path, engine: Engine, at_ns: int, policy_path: Path | None = None
) -> dict[str, Any]:
    """Score the last day of an activity file (``margin.anomaly.DAILY_COLUMNS``); flag into the queue."""
    from margin.anomaly import score_book
    from margin.risk_store import flag_account

    try:
        daily = pd.read_parquet(activity_path)
    except (OSError, ValueError) as exc:
        raise InputError(
            f"--activity {activity_path}: not a readable parquet file ({exc})", field="activity"
        ) from None
    policy = load_controls_policy(policy_path).anomaly
    result, _ = score_book(daily, policy)
    opened = 0
    for row in result[result.flagged].itertuples():
        opened += flag_account(
            engine, int(row.account), at_ns, float(row.score), str(row.reasons), policy.leverage_multiplier
        )
    return {"accounts": len(result), "flagged": int(result.flagged.sum()), "reviews_opened": opened}
