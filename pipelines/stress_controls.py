"""Static vs dynamic risk controls on the same book through the same real prices.

The stress run replays its book twice: once with the fixed (static) margin terms and once
with the dynamic controls — the regime timeline computed from the price history known at each
close, turned into risk events, applied by the engine from their effective time (the next
trading day). Same book, same top-up draws (same seed), same prices: the difference is the
controls alone.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from margin.controls_policy import LEVELS, RiskControlsPolicy, load_controls_policy
from margin.dynamic import DailyControls
from margin.engine import Regime
from margin.regime import Timeline, index_returns, regime_timeline
from margin.replay import ReplayReport, replay
from margin.risk_events import RiskEvent, regime_events


def summary(totals: dict[str, float]) -> dict[str, float]:
    """The side-by-side figures the committee compares."""
    return {
        "calls": int(totals["calls_issued"]),
        "liquidations": int(totals["liquidations_started"]),
        "shortfalls": int(totals["shortfalls"]),
        "loss_minor": round(float(totals["loss_minor"]), 2),
        "liquidated_value_minor": round(float(totals["liquidated_value_minor"]), 2),
        "slippage_minor": round(float(totals["slippage_minor"]), 2),
        "topups_minor": round(float(totals["topups_minor"]), 2),
    }


def _event_row(ev: RiskEvent) -> dict[str, Any]:
    return {
        "observed": pd.Timestamp(ev.observed_ns).strftime("%Y-%m-%d"),
        "effective": pd.Timestamp(ev.effective_ns).strftime("%Y-%m-%d"),
        "scope": ev.scope,
        "version": ev.version,
        "what": f"{ev.kind}: {ev.previous} → {ev.value}",
        "statistic": ev.statistic,
        "value": round(ev.statistic_value, 4),
        "threshold": round(ev.threshold, 4),
        "why": ev.reason,
    }


def regime_summary(
    timeline: Timeline, events: list[RiskEvent], dates: np.ndarray, first: int, returns: np.ndarray
) -> dict[str, Any]:
    """Level timeline over the window, its market events, first crisis day and the worst days."""
    window = slice(first, len(dates))
    day = pd.to_datetime(dates)
    levels = timeline.level[window]
    idx = pd.Series(index_returns(returns)[window], index=day[window])
    worst = idx.nsmallest(5)
    crisis_days = np.flatnonzero(levels == 2)
    first_crisis = day[first + crisis_days[0]].strftime("%Y-%m-%d") if len(crisis_days) else None
    start_ns = int(dates[first])
    market = [e for e in events if e.scope == "market"]
    shown = [e for e in market if e.effective_ns >= start_ns]
    before = [e for e in market if e.effective_ns < start_ns]
    return {
        "level_at_start": LEVELS[int(levels[0])],
        "events": ([_event_row(before[-1])] if before else []) + [_event_row(e) for e in shown],
        "first_crisis": first_crisis,
        "crisis_days": len(crisis_days),
        "worst_index_days": [
            {"date": d.strftime("%Y-%m-%d"), "index_return": round(float(r), 4), "level": LEVELS[int(lv)]}
            for d, r, lv in zip(
                worst.index,
                worst.to_numpy(),
                timeline.level[first + day[window].get_indexer(worst.index)],
                strict=True,
            )
        ],
        "buy_freeze_events": int(sum(e.kind == "buy_freeze" and e.effective_ns >= start_ns for e in events)),
    }


def compare_controls(
    static: ReplayReport,
    replay_args: dict[str, Any],
    dates: np.ndarray,
    symbols: np.ndarray,
    returns: np.ndarray,
    volume: np.ndarray,
    first: int,
    reg: Regime,
    policy: RiskControlsPolicy | None = None,
) -> dict[str, Any]:
    """Replay the same book under the dynamic controls; ``static`` is the fixed-terms replay.

    ``returns``/``volume`` cover the look-back and the window (rows aligned with ``dates``);
    the timeline at day t uses only rows ≤ t, and events take effect on the next trading day.
    """
    policy = policy or load_controls_policy()
    timeline = regime_timeline(returns, volume, policy.regime)
    day_ns = dates.astype("datetime64[ns]").astype(np.int64)
    events = regime_events(timeline, day_ns, symbols, policy)
    base_conv = replay_args["conversion_rate"]
    kinds = np.full(len(symbols), "index_constituent", dtype=object)
    controls = DailyControls.from_events(events, day_ns[first:], symbols, base_conv, kinds, reg, policy)
    dynamic = replay(**replay_args, controls=controls.on)
    return {
        "static": summary(static.totals),
        "dynamic": summary(dynamic.totals),
        "regime": regime_summary(timeline, events, dates, first, returns),
        "dynamic_days": {
            "level": [LEVELS[int(v)] for v in controls.level],
            "loss_minor": dynamic.loss_minor.tolist(),
            "calls_issued": dynamic.calls_issued.tolist(),
        },
    }
