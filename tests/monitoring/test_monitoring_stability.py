"""Stability: PSI per feature against hand computations, bands, lights, and its properties."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitoring.contract import check_pair
from monitoring.report import build_report, summary
from monitoring.stability import column_csi, stability


def _halved_income_pair(population: Callable[..., pd.DataFrame]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reference incomes are exactly 1000·(1..5001) minor units; current ones are half that.

    5001 rows put every decile on one observed value whichever quantile rule is used
    (interpolated or inverted CDF), so the bins below are the same under either.
    """
    rng = np.random.default_rng(7)
    grid = 1000 * np.arange(1, 5002, dtype=np.int64)
    reference = population(5001, seed=1).assign(annual_income_minor=rng.permutation(grid))
    current = population(5001, seed=2).assign(annual_income_minor=rng.permutation(grid) // 2)
    return reference, current


def test_halved_incomes_flag_exactly_that_feature_with_hand_computed_psi(population) -> None:
    reference, current = _halved_income_pair(population)
    report = build_report(check_pair(reference, current))
    data = summary(report)

    # The k-th reference decile of 1000·(1..5001) is the 500k+1-th value, 1000·(500k + 1):
    # bins (−inf, 501000], (501000, 1001000], ..., (4501000, inf) hold 501, 500 × 8, 500 rows.
    # Halved, 500·j is at or below the k-th decile for j ≤ 1000k + 2, so the current bins hold
    # 1002, 1000, 1000, 1000, 999 rows and none above (an empty bin counts as share 1e-4).
    reference_shares = [c / 5001 for c in [501] + [500] * 9]
    current_shares = [c / 5001 for c in (1002, 1000, 1000, 1000, 999)] + [1e-4] * 5
    hand_psi = sum((c - r) * math.log(c / r) for c, r in zip(current_shares, reference_shares, strict=True))
    assert hand_psi == pytest.approx(3.79604, abs=1e-5)
    assert data["features"]["annual_income_minor"]["psi"] == pytest.approx(hand_psi, rel=1e-12)
    assert data["features"]["annual_income_minor"]["light"] == "red"

    lights = {name: item["light"] for name, item in data["features"].items()}
    assert set(lights) == {
        "bureau_score",
        "credit_utilisation",
        "annual_income_minor",
        "employment",
        "identity_verified",
    }
    assert {name for name, light in lights.items() if light != "green"} == {"annual_income_minor"}
    assert data["drifted_features"] == ["annual_income_minor"]
    assert data["drift_flags"]["bureau_score"] is False
    assert data["score"]["light"] == "green"
    red = [a for a in data["alerts"] if a["light"] == "red"]
    assert [(a["section"], a["subject"]) for a in red] == [("stability", "annual_income_minor")]
    assert data["overall"] == "red"


def test_psi_of_shifted_deciles_by_hand() -> None:
    # 1..101: the k-th decile is the value 10k + 1 under either quantile rule, so the bins
    # (−inf, 11], (11, 21], ..., (91, inf) hold 11, 10, ..., 10 reference rows.
    reference = pd.Series(np.arange(1.0, 102.0))
    # current: 22 in the first decile, 5 in the second and in the last, 10 elsewhere (101 rows)
    counts = [22, 5, 10, 10, 10, 10, 10, 10, 9, 5]
    current = pd.Series(np.concatenate([np.full(c, 10.0 * k + 5) for k, c in enumerate(counts)]))
    table = column_csi(reference, current)
    assert table["ref_count"].tolist() == [11] + [10] * 9
    assert table["cur_count"].tolist() == counts
    # Σ (c − r)·ln(c / r) on shares of 101: (22−11)·ln 2 + (5−10)·ln ½ twice + (9−10)·ln 0.9
    expected = (11 * math.log(2) + 2 * 5 * math.log(2) - 1 * math.log(0.9)) / 101
    assert table["psi"].sum() == pytest.approx(expected)


def test_categorical_psi_by_level_by_hand() -> None:
    reference = pd.Series(["a"] * 50 + ["b"] * 50, dtype="string")
    current = pd.Series(["a"] * 75 + ["b"] * 25, dtype="string")
    result = stability(reference.to_frame("x"), current.to_frame("x"), ["x"])
    # (0.75 − 0.5)·ln 1.5 + (0.25 − 0.5)·ln 0.5
    expected = 0.25 * math.log(1.5) - 0.25 * math.log(0.5)
    assert result.table.loc[0, "psi"] == pytest.approx(expected)
    assert result.table.loc[0, "band"] == "act"
    assert result.csi["x"]["bin"].tolist() == ["a", "b"]


def test_bands_and_lights_follow_hand_computed_psi() -> None:
    # reference 50/50; current a-share p: PSI = (p − ½)·ln 2p + (½ − p)·ln 2(1 − p)
    reference = pd.DataFrame({"x": ["a"] * 500 + ["b"] * 500})
    for a_count, psi_by_hand, light in [
        (520, 0.02 * math.log(1.04) - 0.02 * math.log(0.96), "green"),
        (700, 0.2 * math.log(1.4) - 0.2 * math.log(0.6), "amber"),
        (750, 0.25 * math.log(1.5) - 0.25 * math.log(0.5), "red"),
    ]:
        current = pd.DataFrame({"x": ["a"] * a_count + ["b"] * (1000 - a_count)})
        row = stability(reference, current, ["x"]).table.iloc[0]
        assert row["psi"] == pytest.approx(psi_by_hand)
        assert row["light"] == light
        assert row["band"] == {"green": "stable", "amber": "watch", "red": "act"}[light]


def test_infinite_and_missing_values_have_their_bins() -> None:
    reference = pd.DataFrame({"ratio": [0.5, 1.0, 2.0, np.inf, np.nan] * 20})
    current = pd.DataFrame({"ratio": [0.5, 1.0, np.inf, np.inf, np.nan] * 20})
    result = stability(reference, current, ["ratio"])
    csi = result.csi["ratio"]
    assert csi["bin"].iloc[-1] == "missing"
    assert csi["cur_count"].iloc[-1] == 20 and csi["ref_count"].iloc[-1] == 20
    # infinite ratios count as the largest number (1e300): the top decile, with the 2.0s
    top = csi[csi["upper"] == 1e300].iloc[0]
    assert (top["ref_count"], top["cur_count"]) == (20, 40)
    assert csi.loc[csi["upper"] == 2.0, "cur_count"].item() == 0
    assert np.isfinite(result.table["psi"]).all()


@settings(max_examples=40, deadline=None)
@given(
    values=st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=20, max_size=200),
    seed=st.integers(0, 2**32 - 1),
)
def test_psi_is_zero_on_itself_invariant_to_order_and_non_negative(values: list[float], seed: int) -> None:
    reference = pd.DataFrame({"x": values})
    shuffled = reference.sample(frac=1.0, random_state=np.random.RandomState(seed % (2**32)))
    same = stability(reference, shuffled, ["x"]).table.iloc[0]
    assert same["psi"] == pytest.approx(0.0, abs=1e-12)
    assert same["light"] == "green"
    other = pd.DataFrame({"x": np.random.default_rng(seed).permutation(values)[: max(1, len(values) // 2)]})
    psi_forward = stability(reference, other, ["x"]).table.iloc[0]["psi"]
    psi_reordered = stability(reference, other.iloc[::-1], ["x"]).table.iloc[0]["psi"]
    assert psi_forward >= 0
    assert psi_forward == pytest.approx(psi_reordered)
