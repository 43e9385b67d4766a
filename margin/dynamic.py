"""Dynamic margin for the engine: the controls in force on each day, built from risk events.

The engine never reads a regime statistic directly: it reads the risk events and applies each
from its effective time. ``DailyControls.from_events`` sweeps the events once over the trading
days (an event effective at t counts on every day whose mark time is ≥ t) and holds, per day,
the conversion rates, the cn call and target ratios, the level, and the names frozen for new
financed buys — so a replay or the marking process looks up day d in O(1).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from margin.controls_policy import LEVELS, RiskControlsPolicy
from margin.engine import Regime
from margin.risk_events import RiskEvent, apply_controls


@dataclass(frozen=True)
class DailyControls:
    level: np.ndarray  # [days] int8
    conversion_rate: np.ndarray  # [days × instruments]
    call_ratio: np.ndarray  # [days]
    target_ratio: np.ndarray  # [days]
    frozen: np.ndarray  # [days × instruments] bool: new financed buys refused
    max_leverage_multiplier: np.ndarray  # [days]
    base_regime: Regime

    @classmethod
    def from_events(
        cls,
        events: list[RiskEvent],
        mark_ns: np.ndarray,
        symbols: np.ndarray,
        base_conversion: np.ndarray,
        kinds: np.ndarray,
        reg: Regime,
        policy: RiskControlsPolicy,
    ) -> DailyControls:
        """Controls per mark time; only events with ``effective_ns ≤ mark_ns[d]`` apply on day d."""
        n_days, n = len(mark_ns), len(symbols)
        col = {s: j for j, s in enumerate(symbols)}
        ordered = sorted(events, key=lambda e: (e.effective_ns, e.scope, e.version))
        level = np.zeros(n_days, dtype=np.int8)
        frozen = np.zeros((n_days, n), dtype=bool)
        cur_level, cur_frozen, i = 0, np.zeros(n, dtype=bool), 0
        for d in range(n_days):
            while i < len(ordered) and ordered[i].effective_ns <= mark_ns[d]:
                ev = ordered[i]
                if ev.kind == "regime_level":
                    cur_level = LEVELS.index(ev.value)
                elif ev.kind == "buy_freeze" and ev.scope.split(":", 1)[1] in col:
                    cur_frozen = cur_frozen.copy()
                    cur_frozen[col[ev.scope.split(":", 1)[1]]] = ev.value == "frozen"
                i += 1
            level[d], frozen[d] = cur_level, cur_frozen
        conv = np.empty((n_days, n))
        call, target = np.empty(n_days), np.empty(n_days)
        for lv in np.unique(level):
            c, r = apply_controls(base_conversion, kinds, reg, policy.level(int(lv)))
            rows = level == lv
            conv[rows], call[rows], target[rows] = c, r.call, r.target
        lev_mult = np.array([policy.level(int(lv)).max_leverage_multiplier for lv in level])
        return cls(level, conv, call, target, frozen, lev_mult, reg)

    def regime_on(self, day: int) -> Regime:
        """The engine's regime on ``day``: call and target raised by the level in force."""
        call, target = float(self.call_ratio[day]), float(self.target_ratio[day])
        if call == self.base_regime.call and target == self.base_regime.target:
            return self.base_regime
        return replace(
            self.base_regime, call=call, target=target, warning=max(self.base_regime.warning, target)
        )

    def on(self, day: int) -> tuple[np.ndarray, Regime]:
        return self.conversion_rate[day], self.regime_on(day)
