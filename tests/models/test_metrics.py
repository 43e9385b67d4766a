"""Validation maths against values worked out by hand, and properties against peers."""

from __future__ import annotations

import math
import random

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats
from sklearn.metrics import roc_auc_score

from creditdesk.errors import InputError
from models import metrics as m


def test_auc_gini_by_hand() -> None:
    # bads at 0.35 and 0.8, goods at 0.1 and 0.4: 3 of 4 bad/good pairs ordered correctly
    y = [0, 0, 1, 1]
    s = [0.1, 0.4, 0.35, 0.8]
    assert m.auc(y, s) == pytest.approx(0.75)
    assert m.gini(y, s) == pytest.approx(0.5)


def test_auc_counts_ties_as_half() -> None:
    # bad at 0.5 beats the good at 0.2 (1) and ties the good at 0.5 (1/2): (1 + 0.5) / 2
    assert m.auc([0, 0, 1], [0.2, 0.5, 0.5]) == pytest.approx(0.75)
    assert m.auc([0, 1], [0.3, 0.3]) == pytest.approx(0.5)


def test_ks_by_hand() -> None:
    # sorted: .1 g, .35 b, .4 g, .8 b -> |F_bad - F_good| = .5, 0, .5, 0
    assert m.ks_statistic([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.5)


def test_ks_does_not_split_tied_scores() -> None:
    # each score value holds one bad and one good: the distributions are identical
    assert m.ks_statistic([0, 1, 0, 1], [1.0, 1.0, 2.0, 2.0]) == pytest.approx(0.0)


def test_brier_and_ece_by_hand() -> None:
    assert m.brier([0, 1], [0.2, 0.6]) == pytest.approx((0.04 + 0.16) / 2)
    # uniform bins of width .5: [.1,.3] mean .2 vs rate 0; [.6,.8] mean .7 vs rate 1
    y, p = [0, 0, 1, 1], [0.1, 0.3, 0.6, 0.8]
    assert m.expected_calibration_error(y, p, bins=2, strategy="uniform") == pytest.approx(0.25)
    # quantile bins with two bins split at the median: same groups here
    assert m.expected_calibration_error(y, p, bins=2) == pytest.approx(0.25)
    # perfectly calibrated groups give zero
    assert m.expected_calibration_error([0, 1, 0, 1], [0.5] * 4, bins=3) == pytest.approx(0.0)


def test_jeffreys_closed_form() -> None:
    # D=0, N=1: Beta(1/2, 3/2), whose CDF is (2/pi)(asin(sqrt x) + sqrt(x(1-x)))
    x = 0.25
    expected = 2 / math.pi * (math.asin(math.sqrt(x)) + math.sqrt(x * (1 - x)))
    assert expected == pytest.approx(0.608998, abs=1e-6)
    assert m.jeffreys_test(0, 1, x) == pytest.approx(expected, rel=1e-9)


def test_jeffreys_against_numerical_integration() -> None:
    d, n, p = 12, 400, 0.02
    a, b = d + 0.5, n - d + 0.5
    log_beta = math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)

    def density(t: float) -> float:
        return math.exp((a - 1) * math.log(t) + (b - 1) * math.log1p(-t) - log_beta)

    value, _ = integrate.quad(density, 0, p)
    assert m.jeffreys_test(d, n, p) == pytest.approx(value, rel=1e-6)
    # 12 defaults in 400 (3%) against a 2% PD: risk underestimated, small p-value
    assert m.jeffreys_test(d, n, p) < 0.10
    # the same count against a 4% PD is comfortably conservative
    assert m.jeffreys_test(d, n, 0.04) > 0.80


def test_jeffreys_vectorised() -> None:
    out = m.jeffreys_test(np.array([0, 12]), np.array([1, 400]), np.array([0.25, 0.02]))
    assert isinstance(out, np.ndarray) and out.shape == (2,)
    assert out[0] == pytest.approx(m.jeffreys_test(0, 1, 0.25))


def test_binomial_by_hand() -> None:
    assert m.binomial_test(2, 3, 0.5) == pytest.approx(4 / 8)  # P(X>=2) = (3 + 1) / 8
    assert m.binomial_test(0, 10, 0.3) == pytest.approx(1.0)
    assert m.binomial_test(3, 3, 0.1) == pytest.approx(0.001)


def test_counts_are_validated() -> None:
    with pytest.raises(InputError):
        m.jeffreys_test(5, 3, 0.1)
    with pytest.raises(InputError):
        m.binomial_test(1, 3, 1.5)


def test_psi_by_hand_with_out_of_range_values() -> None:
    # reference 1..10, 2 bins split at the median 5.5: shares .5/.5
    # current [1, 1, 1, 20]: 20 lies beyond the reference range and lands in the top bin
    value = m.psi(np.arange(1, 11), [1, 1, 1, 20], bins=2)
    expected = 0.25 * math.log(1.5) + (-0.25) * math.log(0.5)
    assert value == pytest.approx(expected)
    assert expected == pytest.approx(0.274653, abs=1e-6)


def test_psi_empty_bin_uses_epsilon() -> None:
    value = m.psi(np.arange(1, 11), [1, 2], bins=2)
    eps = m.PSI_EPSILON
    expected = 0.5 * math.log(2) + (eps - 0.5) * math.log(eps / 0.5)
    assert value == pytest.approx(expected)


def test_psi_merges_tied_deciles() -> None:
    ref = np.r_[np.zeros(90), np.ones(10)]
    table = m.psi_by_bin(ref, ref, bins=10)
    assert len(table) == 2  # deciles 1..9 are all 0: one bin (-inf, 0] and one (0, inf)
    assert table["ref_share"].tolist() == pytest.approx([0.9, 0.1])
    assert m.psi(ref, ref) == pytest.approx(0.0)


def test_psi_missing_and_categorical_bins() -> None:
    table = m.psi_by_bin([1.0, 2.0, np.nan, 4.0], [1.0, np.nan, np.nan, 4.0], bins=2)
    assert table["bin"].iloc[-1] == "missing"
    assert table["cur_count"].iloc[-1] == 2
    cat = m.psi_by_bin(pd.Series(["a", "a", "b", "b"]), pd.Series(["a", "b", "b", "c"]))
    assert cat["bin"].tolist() == ["a", "b", "c"]
    expected = (0.25 - 0.5) * math.log(0.5) + (0.5 - 0.5) * 0 + (0.25 - 1e-4) * math.log(0.25 / 1e-4)
    assert cat["psi"].sum() == pytest.approx(expected)


def test_psi_band_edges() -> None:
    assert m.psi_band(0.0) == "stable"
    assert m.psi_band(0.0999) == "stable"
    assert m.psi_band(0.10) == "watch"
    assert m.psi_band(0.2499) == "watch"
    assert m.psi_band(0.25) == "act"
    with pytest.raises(InputError):
        m.psi_band(float("nan"))


def test_bad_inputs_raise_input_error() -> None:
    with pytest.raises(InputError, match="both"):
        m.auc([1, 1], [0.1, 0.2])
    with pytest.raises(InputError, match="0 \\(good\\) or 1"):
        m.auc([0, 2], [0.1, 0.2])
    with pytest.raises(InputError):
        m.auc([0, 1, 1], [0.1, 0.2])
    with pytest.raises(InputError):
        m.brier([0, 1], [0.1, 1.2])
    with pytest.raises(InputError):
        m.psi([], [1.0])


scores = st.lists(st.integers(min_value=0, max_value=6), min_size=4, max_size=60)


@settings(max_examples=60, deadline=None)
@given(scores, st.randoms(use_true_random=False))
def test_auc_and_ks_match_peers(values: list[int], rnd: random.Random) -> None:
    y = np.array([rnd.randint(0, 1) for _ in values])
    if y.min() == y.max():
        y[0] = 1 - y[0]
    s = np.array(values, dtype=float)
    assert m.auc(y, s) == pytest.approx(roc_auc_score(y, s))
    assert m.gini(y, s) == pytest.approx(2 * roc_auc_score(y, s) - 1)
    assert m.ks_statistic(y, s) == pytest.approx(stats.ks_2samp(s[y == 1], s[y == 0]).statistic)
    # rank statistics: invariant under a strictly increasing transform
    assert m.auc(y, np.exp(s / 3)) == pytest.approx(m.auc(y, s))


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(-1e3, 1e3), min_size=5, max_size=80),
    st.lists(st.floats(-1e3, 1e3), min_size=5, max_size=80),
)
def test_psi_is_non_negative_and_zero_on_itself(ref: list[float], cur: list[float]) -> None:
    assert m.psi(ref, cur) >= 0
    assert m.psi(ref, ref) == pytest.approx(0.0, abs=1e-12)


def test_psi_deciles_of_round_numbers_are_the_round_numbers() -> None:
    """1..100 has deciles 10, 20, ..., 90; float noise in the quantile grid must not shift them."""
    values = np.arange(1, 101, dtype=float)
    table = m.psi_by_bin(values, values)
    numeric = table[np.isfinite(table["upper"])]
    assert numeric["upper"].tolist() == [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0]
    assert (table["ref_count"] == 10).all()
    shifted = m.psi_by_bin(values, values + 5)  # half of each decile moves up one bin
    assert shifted["cur_count"].tolist() == [5, 10, 10, 10, 10, 10, 10, 10, 10, 15]
