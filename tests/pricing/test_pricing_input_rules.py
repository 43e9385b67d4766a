"""Every input rule of pricing/formulas.py: the field named, its interval, the edges allowed.

Written to kill the mutants `make mutation` found alive: a refusal must name its field and
interval exactly, and each closed edge must still be accepted (each open one refused).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from creditdesk.errors import InputError
from pricing.formulas import (
    capital_k,
    check_drawn_per_ead,
    check_ead,
    check_lgd,
    check_pd,
    check_rate,
    checked_array,
    economic_capital,
    irb_capital,
    raroc,
    required_rate,
)


def _refused(call: object, message: str, field: str) -> None:
    with pytest.raises(InputError) as refused:
        call()  # type: ignore[operator]
    assert str(refused.value) == message and refused.value.field == field


def test_checked_array_names_the_field_and_the_interval() -> None:
    _refused(lambda: checked_array("x", "amount", 0, 1), "amount must be numeric", "amount")
    _refused(
        lambda: checked_array([0.5, 2.0], "share", 0, 1), "share must be a number in [0, 1], got 2", "share"
    )
    _refused(
        lambda: checked_array(math.nan, "share", 0, 1), "share must be a number in [0, 1], got NaN", "share"
    )
    _refused(lambda: checked_array(0.0, "p", 0, 1, low_open=True), "p must be a number in (0, 1], got 0", "p")
    _refused(
        lambda: checked_array(1.0, "p", 0, 1, high_open=True), "p must be a number in [0, 1), got 1", "p"
    )
    np.testing.assert_array_equal(checked_array([0, 1], "share", 0, 1), [0.0, 1.0])  # closed edges pass
    assert checked_array(0.5, "p", 0, 1, low_open=True, high_open=True).dtype == np.float64


@pytest.mark.parametrize(
    "check, field, low, high, inside",
    [
        (check_pd, "pd", "(0", "1)", 0.5),
        (check_lgd, "lgd", "[0", "1]", 0.0),
        (check_ead, "ead", "[0", "inf)", 0.0),
        (lambda v: check_rate(v, "funding"), "funding", "[-1", "10]", -1.0),
        (check_drawn_per_ead, "drawn_per_ead", "(0", "100]", 100.0),
    ],
)
def test_each_named_check_has_its_own_field_and_interval(
    check: object, field: str, low: str, high: str, inside: float
) -> None:
    assert float(check(inside)) == inside  # type: ignore[operator]
    _refused(lambda: check(-5.0), f"{field} must be a number in {low}, {high}, got -5", field)  # type: ignore[operator]


def test_the_capital_formula_and_its_parameters_are_checked() -> None:
    _refused(
        lambda: capital_k(0.01, 0.4, "mortgage"),
        "formula must be 'retail' or 'corporate', got 'mortgage'",
        "formula",
    )  # type: ignore[arg-type]
    _refused(
        lambda: irb_capital(0.01, 0.4, "corporate", 0.5),
        "maturity_years must be a number in [1, 5], got 0.5",
        "maturity_years",
    )
    _refused(
        lambda: irb_capital(0.01, 0.4, "corporate", 6.0),
        "maturity_years must be a number in [1, 5], got 6",
        "maturity_years",
    )
    _refused(
        lambda: irb_capital(0.01, 0.4, confidence=1.0),
        "confidence must be a number in (0.5, 1), got 1",
        "confidence",
    )
    _refused(
        lambda: irb_capital(0.01, 0.4, confidence=0.5),
        "confidence must be a number in (0.5, 1), got 0.5",
        "confidence",
    )
    _refused(
        lambda: irb_capital(0.01, 0.4, pd_floor=0.0),
        "pd_floor must be a number in (0, 0.1), got 0",
        "pd_floor",
    )
    _refused(
        lambda: irb_capital(0.01, 0.4, pd_floor=0.1),
        "pd_floor must be a number in (0, 0.1), got 0.1",
        "pd_floor",
    )
    # the closed edges of maturity are allowed, for both formulas
    for formula in ("retail", "corporate"):
        for years in (1.0, 5.0):
            k, r = irb_capital(0.01, 0.4, formula, years)  # type: ignore[arg-type]
            assert 0 < float(k) < 1 and 0 < float(r) < 1
    _refused(lambda: economic_capital(0.01, 0.4, -1.0), "ead must be a number in [0, inf), got -1", "ead")


def test_raroc_and_required_rate_check_every_input_by_name() -> None:
    _refused(lambda: raroc(0.1, 0.01, 0.4, 2.0, 0.03, 0.01), "k must be a number in [0, 1], got 2", "k")
    _refused(
        lambda: raroc(11.0, 0.01, 0.4, 0.05, 0.03, 0.01), "rate must be a number in [-1, 10], got 11", "rate"
    )
    _refused(
        lambda: raroc(0.1, 0.01, 0.4, 0.05, 20.0, 0.01),
        "funding must be a number in [-1, 10], got 20",
        "funding",
    )
    _refused(
        lambda: raroc(0.1, 0.01, 0.4, 0.05, 0.03, 20.0), "opex must be a number in [-1, 10], got 20", "opex"
    )
    _refused(
        lambda: raroc(0.1, 0.01, 0.4, 0.05, 0.03, 0.01, 20.0),
        "fee_rate must be a number in [-1, 10], got 20",
        "fee_rate",
    )
    _refused(
        lambda: required_rate(0.01, 0.4, 0.05, 0.03, 0.01, -0.1),
        "hurdle must be a number in [0, 10], got -0.1",
        "hurdle",
    )
    _refused(
        lambda: required_rate(0.01, 0.4, 0.05, 20.0, 0.01, 0.1),
        "funding must be a number in [-1, 10], got 20",
        "funding",
    )
    _refused(
        lambda: required_rate(0.01, 0.4, 0.05, 0.03, 20.0, 0.1),
        "opex must be a number in [-1, 10], got 20",
        "opex",
    )
    _refused(
        lambda: required_rate(0.01, 0.4, 0.05, 0.03, 0.01, 0.1, 20.0),
        "fee_rate must be a number in [-1, 10], got 20",
        "fee_rate",
    )
    _refused(
        lambda: required_rate(0.01, 0.4, 1.5, 0.03, 0.01, 0.1), "k must be a number in [0, 1], got 1.5", "k"
    )
    _refused(
        lambda: required_rate(0.01, 0.4, 0.05, 0.03, 0.01, 0.1, drawn_per_ead=0.0),
        "drawn_per_ead must be a number in (0, 100], got 0",
        "drawn_per_ead",
    )


def test_raroc_at_the_required_rate_is_the_hurdle_with_fees_and_partial_drawing() -> None:
    pd_, lgd, k, funding, opex, hurdle, fee = 0.02, 0.45, 0.06, 0.03, 0.01, 0.15, 0.004
    for u in (None, 0.6):
        rate = required_rate(pd_, lgd, k, funding, opex, hurdle, fee, drawn_per_ead=u)
        got = raroc(rate, pd_, lgd, k, funding, opex, fee, drawn_per_ead=u)
        assert float(got) == pytest.approx(hurdle, rel=1e-12)
    # by hand, u = 0.6: (0.6 (r - f) + fee - opex - PD LGD) / K = hurdle
    by_hand = funding + (hurdle * k + opex + pd_ * lgd - fee) / 0.6
    assert float(required_rate(pd_, lgd, k, funding, opex, hurdle, fee, drawn_per_ead=0.6)) == pytest.approx(
        by_hand
    )
