"""Risk events: every change the dynamic controls make, versioned, dated and explained.

A regime change is not applied by editing a parameter in place: it is written as an event
(what changes, why, the statistic and the threshold that triggered it) with an *effective
time*, and the margin engine asks "what was in force at t" (``controls_at``). Replaying the
same events over the same prices therefore gives the same margin, and an auditor can see why
an account was called on a given day.

Rules:

* An event observed at the close of day d takes effect from the next trading day's start
  (``effective_ns``): margin never changes retroactively inside a day already marked.
* ``EventLog.append`` refuses an event whose effective time lies before the last price
  already marked (no retroactive margin) or that does not advance its scope's version.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from creditdesk.errors import InputError
from margin.controls_policy import INSTRUMENT_CLASSES, LEVELS, LevelControls, RiskControlsPolicy
from margin.engine import Regime
from margin.regime import Timeline


@dataclass(frozen=True)
class RiskEvent:
    scope: str  # "market" or "instrument:<symbol>"
    version: int  # per scope, 1, 2, …
    effective_ns: int  # applied from this time on
    observed_ns: int  # close whose statistic triggered it
    kind: str  # "regime_level" or "buy_freeze"
    value: str  # new level name, or "frozen"/"open"
    previous: str
    statistic: str
    statistic_value: float
    threshold: float
    reason: str

    def to_row(self) -> dict[str, object]:
        return dict(self.__dict__)


@dataclass
class EventLog:
    """The append-only list of events, refusing retroactive or out-of-order ones."""

    events: list[RiskEvent] = field(default_factory=list)
    last_marked_ns: int = -1  # prices already marked up to this time
    _versions: dict[str, int] = field(default_factory=dict)

    def append(self, event: RiskEvent) -> None:
        if event.effective_ns <= self.last_marked_ns:
            raise InputError(
                f"risk event {event.scope} v{event.version}: effective time {event.effective_ns} is not "
                f"after prices already marked at {self.last_marked_ns} (no retroactive margin)",
                field="effective_ns",
            )
        expected = self._versions.get(event.scope, 0) + 1
        if event.version != expected:
            raise InputError(
                f"risk event {event.scope}: version {event.version}, expected {expected}", field="version"
            )
        self._versions[event.scope] = event.version
        self.events.append(event)

    def mark(self, t_ns: int) -> None:
        """Record that prices up to ``t_ns`` have been marked (and margin applied) ."""
        self.last_marked_ns = max(self.last_marked_ns, t_ns)


def _level_change(
    old: int, new: int, vol: float, entry: list[float], cusum_sd: float, policy: RiskControlsPolicy
) -> dict[str, object]:
    """Statistic, threshold and plain reason of a level change (the CUSUM when it did the lifting)."""
    det = policy.regime
    if new > old and vol < entry[new - 1]:
        return {
            "statistic": "index_cusum_sd",
            "statistic_value": cusum_sd,
            "threshold": det.cusum_h,
            "reason": f"CUSUM alarm on falling index returns or surging volume ({cusum_sd:.1f} sd > "
            f"{det.cusum_h:g}) while index volatility was {vol:.0%}",
        }
    if new > old:
        thr = entry[new - 1]
        reason = f"index EWMA volatility rose to {vol:.0%} (entry {thr:.0%})"
    else:
        thr = entry[old - 1] * det.exit_ratio
        reason = f"index EWMA volatility {vol:.0%} stayed below {thr:.0%} for {det.cooldown_days} days"
    return {"statistic": "index_ewma_vol_annual", "statistic_value": vol, "threshold": thr, "reason": reason}


def regime_events(
    timeline: Timeline,
    day_ns: np.ndarray,
    symbols: np.ndarray,
    policy: RiskControlsPolicy,
    next_day_ns: np.ndarray | None = None,
) -> list[RiskEvent]:
    """Events from a timeline: market level changes and per-name buy-freeze changes.

    ``day_ns`` are the closes; an event observed at day d is effective at ``next_day_ns[d]``
    (default: the next close in ``day_ns``; the last day's events a day later).
    """
    n_days = len(day_ns)
    if next_day_ns is None:
        next_day_ns = np.append(day_ns[1:], day_ns[-1] + 86_400 * 10**9)
    det = policy.regime
    entry = [det.stressed_vol_annual, det.crisis_vol_annual]
    frozen = frozen_names(timeline, policy)
    versions: dict[str, int] = {}
    out: list[RiskEvent] = []

    def emit(scope: str, d: int, **kw: object) -> None:
        versions[scope] = versions.get(scope, 0) + 1
        out.append(RiskEvent(scope, versions[scope], int(next_day_ns[d]), int(day_ns[d]), **kw))  # type: ignore[arg-type]

    prev_level, prev_frozen = 0, np.zeros(len(symbols), dtype=bool)
    for d in range(n_days):
        lvl = int(timeline.level[d])
        if lvl != prev_level:
            vol, cus = float(timeline.index_vol_annual[d]), float(timeline.cusum_sd[d])
            why = _level_change(prev_level, lvl, vol, entry, cus, policy)
            emit("market", d, kind="regime_level", value=LEVELS[lvl], previous=LEVELS[prev_level], **why)
        for j in np.flatnonzero(frozen[d] != prev_frozen):
            pct = policy.level(lvl).freeze_vol_percentile
            emit(
                f"instrument:{symbols[j]}",
                d,
                kind="buy_freeze",
                value="frozen" if frozen[d, j] else "open",
                previous="open" if frozen[d, j] else "frozen",
                statistic="vol_percentile",
                statistic_value=float(timeline.vol_percentile[d, j]),
                threshold=pct,
                reason=(
                    f"volatility {timeline.instrument_vol_annual[d, j]:.0%} ranks above the "
                    f"{pct:.0%} percentile in a {LEVELS[lvl]} market"
                    if frozen[d, j]
                    else f"volatility rank back below the exit line or market {LEVELS[lvl]}"
                ),
            )
        prev_level, prev_frozen = lvl, frozen[d]
    return out


def frozen_names(timeline: Timeline, policy: RiskControlsPolicy) -> np.ndarray:
    """[days × n] new financed buys frozen: vol rank above the level's percentile, with hysteresis.

    A name freezes when its rank exceeds the level's percentile and reopens only when the rank
    falls below ``instrument_exit_ratio`` × that percentile (or the market level no longer
    freezes anything).
    """
    pct = np.array([policy.level(i).freeze_vol_percentile for i in range(len(LEVELS))])
    rank = timeline.vol_percentile
    out = np.zeros(rank.shape, dtype=bool)
    state = np.zeros(rank.shape[1], dtype=bool)
    for d in range(rank.shape[0]):
        p = pct[timeline.level[d]]
        if p >= 1.0:
            state = np.zeros_like(state)
        else:
            state = np.where(state, rank[d] >= p * policy.regime.instrument_exit_ratio, rank[d] > p)
        out[d] = state
    return out


@dataclass(frozen=True)
class ControlsInForce:
    level: int
    controls: LevelControls
    frozen_symbols: frozenset[str]


def controls_at(events: list[RiskEvent], t_ns: int, policy: RiskControlsPolicy) -> ControlsInForce:
    """What the events say is in force at ``t_ns``: only events effective at or before it count."""
    level = 0
    frozen: set[str] = set()
    for ev in events:
        if ev.effective_ns > t_ns:
            continue
        if ev.kind == "regime_level":
            level = LEVELS.index(ev.value)
        elif ev.kind == "buy_freeze":
            symbol = ev.scope.split(":", 1)[1]
            (frozen.add if ev.value == "frozen" else frozen.discard)(symbol)
    return ControlsInForce(level, policy.level(level), frozenset(frozen))


def apply_controls(
    base_conversion: np.ndarray, kinds: np.ndarray, reg: Regime, controls: LevelControls
) -> tuple[np.ndarray, Regime]:
    """The engine's inputs under a level: conversion rates cut by class, call and target raised.

    Only the cn collateral-ratio regime has call/target ratios to raise; for ``us`` the
    conversion cut applies and the equity thresholds stay as they are.
    """
    mult = np.ones(len(base_conversion))
    for kind in INSTRUMENT_CLASSES:
        mult[kinds == kind] = controls.multiplier(kind)
    conv = base_conversion * mult
    if reg.kind != "collateral_ratio":
        return conv, reg
    from dataclasses import replace

    call = max(reg.call, controls.call_ratio)
    target = max(reg.target, controls.target_ratio)
    return conv, replace(reg, call=call, target=target, warning=max(reg.warning, target))
