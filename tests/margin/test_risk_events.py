"""Risk events: refused when retroactive, applied by the engine only from their effective time."""

from __future__ import annotations

import numpy as np
import pytest

from creditdesk.errors import InputError
from margin.controls_policy import RiskControlsPolicy
from margin.dynamic import DailyControls
from margin.engine import CN, Book
from margin.regime import Timeline
from margin.replay import replay
from margin.risk_events import EventLog, RiskEvent, controls_at, regime_events

DAY_NS = 86_400 * 10**9
POLICY = RiskControlsPolicy()


def level_event(version: int, effective_day: int, value: str, previous: str) -> RiskEvent:
    return RiskEvent(
        scope="market",
        version=version,
        effective_ns=effective_day * DAY_NS,
        observed_ns=(effective_day - 1) * DAY_NS,
        kind="regime_level",
        value=value,
        previous=previous,
        statistic="index_ewma_vol_annual",
        statistic_value=0.45,
        threshold=0.40,
        reason="test",
    )


def test_an_event_effective_before_already_marked_prices_is_refused() -> None:
    log = EventLog()
    log.mark(5 * DAY_NS)
    with pytest.raises(InputError, match="no retroactive margin"):
        log.append(level_event(1, 5, "crisis", "calm"))
    log.append(level_event(1, 6, "crisis", "calm"))
    with pytest.raises(InputError, match="version"):
        log.append(level_event(3, 7, "calm", "crisis"))
    assert len(log.events) == 1


def test_controls_at_counts_only_events_already_effective() -> None:
    events = [level_event(1, 3, "crisis", "calm")]
    assert controls_at(events, 3 * DAY_NS - 1, POLICY).level == 0
    assert controls_at(events, 3 * DAY_NS, POLICY).level == 2


def test_engine_applies_an_event_from_its_effective_day_not_before() -> None:
    mark_ns = np.arange(6) * DAY_NS
    ctl = DailyControls.from_events(
        [level_event(1, 3, "crisis", "calm")],
        mark_ns,
        np.array(["AAA"]),
        np.array([0.70]),
        np.array(["index_constituent"]),
        CN,
        POLICY,
    )
    assert ctl.level.tolist() == [0, 0, 0, 2, 2, 2]
    assert ctl.call_ratio.tolist() == [1.3, 1.3, 1.3, 1.5, 1.5, 1.5]
    np.testing.assert_allclose(ctl.conversion_rate[:, 0], [0.7, 0.7, 0.7, 0.525, 0.525, 0.525])
    # one account at a maintenance ratio of 140 %: no call under calm terms, a call under crisis
    book = Book(np.array([0.0]), np.array([1000.0]), np.array([0]), np.array([0]), np.array([140.0]))
    close = np.full((6, 1), 10.0)
    ones = np.ones_like(close)
    rep = replay(
        book,
        close,
        ones * 1e9,
        ones * 0.01,
        np.array([0.7]),
        CN,
        topup_probability=0.0,
        annual_rate=0.0,
        controls=ctl.on,
    )
    assert rep.calls_issued.tolist() == [0, 0, 0, 1, 0, 0]
    static = replay(
        book, close, ones * 1e9, ones * 0.01, np.array([0.7]), CN, topup_probability=0.0, annual_rate=0.0
    )
    assert static.calls_issued.sum() == 0


def test_timeline_changes_become_versioned_events_effective_next_day() -> None:
    days = 6
    tl = Timeline(
        level=np.array([0, 1, 1, 2, 2, 1], dtype=np.int8),
        index_vol_annual=np.array([0.1, 0.3, 0.3, 0.5, 0.5, 0.2]),
        index_window_vol_annual=np.zeros(days),
        cusum_return_down=np.zeros(days, dtype=bool),
        cusum_volume_up=np.zeros(days, dtype=bool),
        cusum_sd=np.zeros(days),
        instrument_vol_annual=np.tile([0.2, 0.9], (days, 1)),
        vol_percentile=np.tile([0.5, 1.0], (days, 1)),
    )
    events = regime_events(tl, np.arange(days) * DAY_NS, np.array(["AAA", "BBB"]), POLICY)
    market = [e for e in events if e.scope == "market"]
    assert [(e.version, e.value, e.effective_ns // DAY_NS) for e in market] == [
        (1, "stressed", 2),
        (2, "crisis", 4),
        (3, "stressed", 6),
    ]
    assert market[1].statistic_value == 0.5 and market[1].threshold == 0.40
    frozen = [e for e in events if e.scope == "instrument:BBB"]
    assert [e.value for e in frozen] == ["frozen"]  # top-ranked name frozen once stressed
    assert not [e for e in events if e.scope == "instrument:AAA"]


def test_a_cusum_lift_names_the_cusum_and_its_decision_interval() -> None:
    tl = Timeline(
        level=np.array([0, 1], dtype=np.int8),
        index_vol_annual=np.array([0.15, 0.16]),
        index_window_vol_annual=np.zeros(2),
        cusum_return_down=np.array([False, True]),
        cusum_volume_up=np.zeros(2, dtype=bool),
        cusum_sd=np.array([1.0, 5.5]),
        instrument_vol_annual=np.full((2, 1), 0.2),
        vol_percentile=np.full((2, 1), 1.0),
    )
    ev = regime_events(tl, np.arange(2) * DAY_NS, np.array(["AAA"]), POLICY)[0]
    assert (ev.statistic, ev.statistic_value, ev.threshold) == ("index_cusum_sd", 5.5, 5.0)
    assert "CUSUM" in ev.reason
