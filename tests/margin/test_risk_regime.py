"""Regime statistics: EWMA, window volatility, CUSUM by hand, hysteresis without flapping, policy refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from creditdesk.errors import InputError
from margin.controls_policy import RiskControlsPolicy, load_controls_policy, policy_from_mapping
from margin.regime import (
    RegimeTracker,
    cusum,
    ewma_variance,
    hysteresis_levels,
    regime_timeline,
    vol_percentile,
    window_volatility,
)


def test_cusum_matches_a_hand_computed_series() -> None:
    # Page's two-sided CUSUM, k = 0.5, h = 4, worked by hand:
    # S+: 0, 0.5, 2.0, 4.5 (> 4: alarm, restart at 0), 0, 3.5, 3.0
    # S-: 0, 0, 0, 0, 0.5, 0, 0
    z = np.array([0.0, 1.0, 2.0, 3.0, -1.0, 4.0, 0.0])
    res = cusum(z, k=0.5, h=4.0)
    assert res.upper.tolist() == [0.0, 0.5, 2.0, 4.5, 0.0, 3.5, 3.0]
    assert res.lower.tolist() == [0.0, 0.0, 0.0, 0.0, 0.5, 0.0, 0.0]
    assert res.alarm_up.tolist() == [False, False, False, True, False, False, False]
    assert not res.alarm_down.any()


def test_cusum_downward_side_and_columns_are_independent() -> None:
    z = np.array([[-2.0, 0.0], [-2.0, 0.0], [-2.0, 0.0]])  # S-: 1.5, 3.0, 4.5 → alarm on day 2
    res = cusum(z, k=0.5, h=4.0)
    assert res.lower[:, 0].tolist() == [1.5, 3.0, 4.5]
    assert res.alarm_down[:, 0].tolist() == [False, False, True]
    assert not res.alarm_down[:, 1].any() and not res.alarm_up.any()


def test_ewma_variance_by_hand() -> None:
    # v1 = 0.9·1e-4 + 0.1·(0.01)² = 1e-4; v2 = 0.9·1e-4 + 0.1·(0.02)² = 1.3e-4
    v = ewma_variance(np.array([[0.01], [-0.02]]), 0.9, np.array([1e-4]))
    np.testing.assert_allclose(v[:, 0], [1e-4, 1.3e-4])


def test_window_volatility_is_the_sample_std_of_the_last_days() -> None:
    r = np.random.default_rng(0).normal(0, 0.02, (30, 3))
    w = window_volatility(r, 5)
    assert np.isnan(w[:4]).all()
    np.testing.assert_allclose(w[10], r[6:11].std(axis=0, ddof=1))


def test_hysteresis_does_not_flap_on_a_noisy_crossing() -> None:
    entry = np.array([0.25, 0.40])
    noisy = np.array([0.20] + [0.26, 0.24] * 10)  # crosses 25 % back and forth 20 times
    levels = hysteresis_levels(noisy, entry, exit_ratio=0.8, cooldown_days=5)
    assert levels.tolist() == [0] + [1] * 20  # entered once, never left (exit line is 20 %)
    naive = (noisy >= 0.25).astype(int)
    assert np.abs(np.diff(naive)).sum() == 20  # what a plain threshold would have done


def test_levels_step_down_only_after_the_cooldown_and_one_at_a_time() -> None:
    entry = np.array([0.25, 0.40])
    stat = np.array([0.1, 0.5] + [0.1] * 7)
    levels = hysteresis_levels(stat, entry, exit_ratio=0.8, cooldown_days=3)
    # crisis at once; 3 quiet days → stressed; 3 more → calm
    assert levels.tolist() == [0, 2, 2, 2, 1, 1, 1, 0, 0]


def test_a_cusum_floor_lifts_calm_to_stressed() -> None:
    stat = np.array([0.1, 0.1, 0.1])
    floor = np.array([0, 1, 0], dtype=np.int8)
    levels = hysteresis_levels(stat, np.array([0.25, 0.40]), 0.8, 2, floor=floor)
    assert levels.tolist() == [0, 1, 1]


def test_timeline_enters_crisis_in_a_simulated_crash_and_tracker_agrees() -> None:
    rng = np.random.default_rng(3)
    days, n = 400, 20
    sigma = np.where(np.arange(days) < 300, 0.008, 0.05)[:, None]
    returns = rng.normal(0, 1, (days, 1)) * sigma + rng.normal(0, 0.005, (days, n))  # one market factor
    returns[0] = 0.0
    volume = np.full((days, n), 1e6)
    policy = RiskControlsPolicy().regime
    tl = regime_timeline(returns, volume, policy)
    assert (tl.level[:290] <= 1).all() and tl.level[-50:].min() == 2
    tracker = RegimeTracker(
        policy, inst_var=np.full(n, 1e-4), index_var=float(tl.index_vol_annual[0] ** 2 / 252)
    )
    live = [tracker.update(r) for r in returns[1:]]
    assert live[-1] == 2
    assert vol_percentile(np.array([[0.3, 0.1, 0.2]])).tolist() == [[1.0, 1 / 3, 2 / 3]]


def test_packaged_policy_file_equals_the_defaults() -> None:
    assert load_controls_policy() == RiskControlsPolicy()


@pytest.mark.parametrize(
    ("patch", "key"),
    [
        ({"regime": {"stressed_vol_annual": 0.5, "crisis_vol_annual": 0.3}}, "crisis_vol_annual"),
        ({"regime": {"window_days": -5}}, "window_days"),
        ({"concentration": {"platform_adv_share": 1.5}}, "platform_adv_share"),
        ({"anomaly": {"leverage_multiplier": 0.0}}, "leverage_multiplier"),
        (
            {"levels": {"calm": {"freeze_vol_percentile": 1.2, "max_leverage_multiplier": 1.0}}},
            "freeze_vol_percentile",
        ),
        (
            {
                "concentration": {
                    "tiers": [
                        {"min_ratio": 1.8, "max_single_name_share": 0.7},
                        {"min_ratio": 2.4, "max_single_name_share": 1.0},
                    ]
                }
            },
            "tiers",
        ),
    ],
)
def test_bad_policy_is_refused_naming_the_key(patch: dict, key: str) -> None:
    with pytest.raises(InputError, match=key):
        policy_from_mapping(patch)


def test_crisis_target_below_stressed_is_refused(tmp_path: Path) -> None:
    doc = RiskControlsPolicy().model_dump()
    doc["levels"]["crisis"]["target_ratio"] = 1.55
    doc["levels"]["crisis"]["call_ratio"] = 1.35
    with pytest.raises(InputError, match="crisis"):
        policy_from_mapping(doc)
    bad = tmp_path / "p.yaml"
    bad.write_text("regime: [1, 2")
    with pytest.raises(InputError, match="not valid YAML"):
        load_controls_policy(bad)
