"""Golden values (hand computations with the standard library) and properties of the credit maths."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from creditdesk.errors import InputError
from pricing.formulas import (
    capital_k,
    economic_capital,
    expected_loss,
    irb_capital,
    irb_correlation_corporate,
    irb_correlation_retail,
    maturity_adjustment_b,
    raroc,
    required_rate,
)

N = NormalDist()


def hand_retail(pd: float, lgd: float) -> tuple[float, float]:
    """Basel other-retail R and K, written out exactly as in CRE31.14."""
    pd = max(pd, 0.0005)
    f = (1 - math.exp(-35 * pd)) / (1 - math.exp(-35))
    r = 0.03 * f + 0.16 * (1 - f)
    k = lgd * N.cdf((N.inv_cdf(pd) + math.sqrt(r) * N.inv_cdf(0.999)) / math.sqrt(1 - r)) - pd * lgd
    return r, k


def hand_corporate(pd: float, lgd: float, m: float) -> tuple[float, float]:
    pd = max(pd, 0.0005)
    f = (1 - math.exp(-50 * pd)) / (1 - math.exp(-50))
    r = 0.12 * f + 0.24 * (1 - f)
    b = (0.11852 - 0.05478 * math.log(pd)) ** 2
    k = lgd * N.cdf((N.inv_cdf(pd) + math.sqrt(r) * N.inv_cdf(0.999)) / math.sqrt(1 - r)) - pd * lgd
    return r, k * (1 + (m - 2.5) * b) / (1 - 1.5 * b)


def test_golden_retail_pd_1pct_lgd_45pct() -> None:
    k, r = irb_capital(0.01, 0.45)
    # The published figures, to their printed precision ...
    assert round(float(r), 5) == 0.12161
    assert round(float(k), 6) == 0.036618
    # ... and the hand computation to 1e-9.
    r_hand, k_hand = hand_retail(0.01, 0.45)
    assert abs(float(r) - r_hand) < 1e-9
    assert abs(float(k) - k_hand) < 1e-9
    assert abs(float(irb_correlation_retail(0.01)) - r_hand) < 1e-9
    assert abs(float(capital_k(0.01, 0.45)) - k_hand) < 1e-9


@pytest.mark.parametrize("pd", [0.0001, 0.0005, 0.003, 0.02, 0.1, 0.35, 0.9])
@pytest.mark.parametrize("lgd", [0.0, 0.1, 0.45, 1.0])
def test_retail_capital_matches_hand_computation(pd: float, lgd: float) -> None:
    k, r = irb_capital(np.array([pd]), np.array([lgd]))
    r_hand, k_hand = hand_retail(pd, lgd)
    assert abs(r[0] - r_hand) < 1e-9
    assert abs(k[0] - k_hand) < 1e-9


@pytest.mark.parametrize("pd", [0.001, 0.01, 0.05])
@pytest.mark.parametrize("m", [1.0, 2.5, 5.0])
def test_corporate_capital_with_maturity_matches_hand_computation(pd: float, m: float) -> None:
    k, r = irb_capital(pd, 0.45, formula="corporate", maturity_years=m)
    r_hand, k_hand = hand_corporate(pd, 0.45, m)
    assert abs(float(r) - r_hand) < 1e-9
    assert abs(float(k) - k_hand) < 1e-9
    assert abs(float(irb_correlation_corporate(pd)) - r_hand) < 1e-9
    assert abs(float(maturity_adjustment_b(pd)) - (0.11852 - 0.05478 * math.log(pd)) ** 2) < 1e-12


def test_pd_floor_applies_to_capital_only() -> None:
    # Below the 0.05 % floor capital is the floor's capital; EL still uses the model's PD.
    assert float(capital_k(0.0001, 0.4)) == pytest.approx(float(capital_k(0.0005, 0.4)), abs=1e-15)
    assert float(expected_loss(0.0001, 0.4, 1_000_000)) == pytest.approx(40.0, abs=1e-9)


def test_expected_loss_and_economic_capital_golden() -> None:
    # EL = 0.02 x 0.35 x 250,000 = 1,750 exactly.
    assert abs(float(expected_loss(0.02, 0.35, 250_000)) - 1750.0) < 1e-9
    _, k_hand = hand_retail(0.02, 0.35)
    assert abs(float(economic_capital(0.02, 0.35, 250_000)) - k_hand * 250_000) < 1e-6
    out = expected_loss(np.array([0.01, 0.02]), np.array([0.5, 0.25]), np.array([100.0, 400.0]))
    np.testing.assert_allclose(out, [0.5, 2.0], rtol=0, atol=1e-12)


def test_raroc_and_rate_golden() -> None:
    _, k = hand_retail(0.01, 0.45)
    # funding 4.5 %, opex 1 %, hurdle 15 %: rate = 0.045 + 0.01 + 0.0045 + 0.15 K.
    rate_hand = 0.045 + 0.01 + 0.01 * 0.45 + 0.15 * k
    assert abs(float(required_rate(0.01, 0.45, k, 0.045, 0.01, 0.15)) - rate_hand) < 1e-12
    assert abs(float(raroc(rate_hand, 0.01, 0.45, k, 0.045, 0.01)) - 0.15) < 1e-9
    # A rate of 8 %: RAROC = (0.08 - 0.045 - 0.01 - 0.0045) / K.
    assert abs(float(raroc(0.08, 0.01, 0.45, k, 0.045, 0.01)) - (0.0205 / k)) < 1e-9
    # Fees count as income: 1 % fee lowers the required rate by exactly 1 %.
    with_fee = float(required_rate(0.01, 0.45, k, 0.045, 0.01, 0.15, fee_rate=0.01))
    assert abs(with_fee - (rate_hand - 0.01)) < 1e-12


def test_raroc_without_capital_is_signed_infinity() -> None:
    out = raroc(np.array([0.08, 0.01]), 0.01, 0.0, 0.0, 0.045, 0.01)
    assert out[0] == np.inf and out[1] == -np.inf


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: expected_loss(0.0, 0.4, 1), "pd"),
        (lambda: expected_loss(1.0, 0.4, 1), "pd"),
        (lambda: expected_loss(-0.1, 0.4, 1), "pd"),
        (lambda: expected_loss(float("nan"), 0.4, 1), "pd"),
        (lambda: expected_loss(np.array([0.1, np.nan]), 0.4, 1), "pd"),
        (lambda: expected_loss(0.1, -0.01, 1), "lgd"),
        (lambda: expected_loss(0.1, 1.01, 1), "lgd"),
        (lambda: expected_loss(0.1, float("nan"), 1), "lgd"),
        (lambda: expected_loss(0.1, 0.4, -5), "ead"),
        (lambda: expected_loss(0.1, 0.4, float("inf")), "ead"),
        (lambda: expected_loss("abc", 0.4, 1), "pd"),
        (lambda: capital_k(0.1, 0.4, formula="sovereign"), "formula"),  # type: ignore[arg-type]
        (lambda: capital_k(0.1, 0.4, maturity_years=7.0), "maturity_years"),
        (lambda: raroc(0.1, 0.01, 0.4, -0.1, 0.04, 0.01), "k"),
    ],
)
def test_bad_values_raise_input_error_naming_the_field(call, field: str) -> None:
    with pytest.raises(InputError) as err:
        call()
    assert err.value.field == field
    assert field in str(err.value)


pds = st.floats(min_value=1e-6, max_value=0.999, allow_nan=False)
lgds = st.floats(min_value=0.01, max_value=1.0, allow_nan=False)
hurdles = st.floats(min_value=0.01, max_value=0.5, allow_nan=False)


@settings(deadline=None)  # a loaded shared CI machine must not make this flaky
@given(pd1=pds, pd2=pds, lgd=lgds, hurdle=hurdles)
def test_rate_rises_with_pd(pd1: float, pd2: float, lgd: float, hurdle: float) -> None:
    lo, hi = sorted((pd1, pd2))
    k_lo, k_hi = capital_k(lo, lgd), capital_k(hi, lgd)
    req_lo = float(required_rate(lo, lgd, k_lo, 0.04, 0.01, hurdle))
    req_hi = float(required_rate(hi, lgd, k_hi, 0.04, 0.01, hurdle))
    assert req_hi >= req_lo - 1e-15
    if hi > lo * (1 + 1e-9):
        assert req_hi > req_lo


@settings(deadline=None)  # a loaded shared CI machine must not make this flaky
@given(pd=pds, lgd1=lgds, lgd2=lgds, hurdle=hurdles)
def test_rate_rises_with_lgd(pd: float, lgd1: float, lgd2: float, hurdle: float) -> None:
    lo, hi = sorted((lgd1, lgd2))
    req_lo = float(required_rate(pd, lo, capital_k(pd, lo), 0.04, 0.01, hurdle))
    req_hi = float(required_rate(pd, hi, capital_k(pd, hi), 0.04, 0.01, hurdle))
    assert req_hi >= req_lo - 1e-15
    if hi > lo * (1 + 1e-9):
        assert req_hi > req_lo


@settings(deadline=None)  # a loaded shared CI machine must not make this flaky
@given(pd=pds, lgd=lgds, hurdle=hurdles, funding=st.floats(0.0, 0.1), opex=st.floats(0.0, 0.05))
def test_raroc_at_the_required_rate_is_the_hurdle(
    pd: float, lgd: float, hurdle: float, funding: float, opex: float
) -> None:
    # The policy's floor and cap on the quoted rate are the decision's (test_pricing_decision).
    k = capital_k(pd, lgd)
    req = float(required_rate(pd, lgd, k, funding, opex, hurdle))
    assert float(raroc(req, pd, lgd, k, funding, opex)) == pytest.approx(hurdle, rel=1e-9, abs=1e-9)
    assert float(raroc(req - 0.001, pd, lgd, k, funding, opex)) < hurdle


@settings(deadline=None)  # a loaded shared CI machine must not make this flaky
@given(st.lists(st.tuples(pds, lgds), min_size=1, max_size=50))
def test_vectorised_equals_one_by_one(rows: list[tuple[float, float]]) -> None:
    pd = np.array([r[0] for r in rows])
    lgd = np.array([r[1] for r in rows])
    k, r = irb_capital(pd, lgd)
    for i, (p, lg) in enumerate(rows):
        k1, r1 = irb_capital(p, lg)
        assert k[i] == float(k1) and r[i] == float(r1)


def test_one_year_maturity_is_the_default_of_every_capital_function() -> None:
    # Corporate K with M = 1 by hand (CRE31.5 with b(PD)); retail K has no maturity term.
    hand_k = hand_corporate(0.004, 0.45, 1.0)[1]
    assert float(irb_capital(0.004, 0.45, "corporate")[0]) == pytest.approx(hand_k, rel=1e-12)
    assert float(capital_k(0.004, 0.45, "corporate")) == pytest.approx(hand_k, rel=1e-12)
    assert float(economic_capital(0.004, 0.45, 1000.0, "corporate")) == pytest.approx(
        1000.0 * hand_k, rel=1e-12
    )


def test_capital_k_and_economic_capital_pass_every_argument_through() -> None:
    """Maturity, confidence and PD floor each change K; both wrappers must hand them on."""
    pd_, lgd, ead = 0.0001, 0.45, 1000.0
    cases = [
        ({"formula": "corporate", "maturity_years": 3.0}, hand_corporate(pd_, lgd, 3.0)[1]),
        ({"pd_floor": 0.01}, hand_retail(0.01, lgd)[1]),  # the floor lifts the PD to 1 %
    ]
    for kwargs, hand_k in cases:
        assert float(capital_k(pd_, lgd, **kwargs)) == pytest.approx(hand_k, rel=1e-9), kwargs
        assert float(economic_capital(pd_, lgd, ead, **kwargs)) == pytest.approx(ead * hand_k, rel=1e-9), (
            kwargs
        )
    lower = float(capital_k(0.01, lgd, confidence=0.99))
    assert lower < float(capital_k(0.01, lgd))  # 99 % needs less capital than 99.9 %
    assert float(economic_capital(0.01, lgd, ead, confidence=0.99)) == pytest.approx(ead * lower, rel=1e-12)


def test_raroc_with_capital_below_the_no_capital_threshold_is_signed_infinity() -> None:
    # K = 1e-13 is "no capital" (below 1e-12): ±inf, not a huge finite ratio; a zero margin
    # over no capital is +inf, not NaN.
    tiny = raroc(np.array([0.08, 0.01]), 0.01, 0.45, 1e-13, 0.045, 0.01)
    assert tiny[0] == np.inf and tiny[1] == -np.inf
    at_break_even = raroc(0.005, 0.01, 0.5, 0.0, 0.0, 0.0)  # margin 0.005 - 0.01 x 0.5 = 0 exactly
    assert float(at_break_even) == np.inf
