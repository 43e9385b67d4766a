"""Tiered limits (golden values and cap properties) and knock-out rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from creditdesk.errors import InputError
from pricing.knockouts import knockout_mask
from pricing.limits import credit_limit_minor, haircut_addon, limit_caps_minor, max_leverage
from pricing.policy import load_policy
from pricing.reasons import BIT, DECLINE_BITS, REFER_BITS, codes_from_mask

LEGACY_POLICY = Path(__file__).with_name("policy_2026_1.yaml")
POLICY = load_policy(LEGACY_POLICY)  # the 2026.1 (USD) policy the goldens were written for


def test_credit_limit_golden() -> None:
    # grade 4: tier cap 15,000,000; assets 3,456,789 x (1.0 - grade 4's 2 % haircut add-on)
    # = 3,387,653; income 2,000,000 x 2.0; requested 9,999,999 -> min = 3,387,653, rounded
    # down to the 10,000 unit = 3,380,000 (before issue 13 the add-on was ignored: 3,450,000).
    assert credit_limit_minor(4, 3_456_789, 2_000_000, 9_999_999, POLICY).tolist() == 3_380_000
    lines = credit_limit_minor(
        np.array([1, 8, 10, 11]),
        np.array([10**9, 10**9, 10**9, 10**9]),
        np.array([10**9, 10**9, 10**9, 10**9]),
        np.array([10**9, 1_234_567, 10**9, 10**9]),
        POLICY,
    )
    # tier caps: 50,000,000 / requested 1,234,567 -> 1,230,000 / grade 10 and 11: 0
    assert lines.tolist() == [50_000_000, 1_230_000, 0, 0]
    assert lines.dtype == np.int64
    # income binds: 2.0 x 1,000,005 = 2,000,010 -> 2,000,000
    assert int(credit_limit_minor(1, 10**9, 1_000_005, 10**9, POLICY)) == 2_000_000


def test_max_leverage_and_haircut_by_grade() -> None:
    assert max_leverage(np.array([1, 4, 8, 10, 11]), POLICY).tolist() == [1.0, 0.8, 0.5, 0.0, 0.0]
    assert haircut_addon(np.array([1, 5, 11]), POLICY).tolist() == [0.0, 0.05, 1.0]


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ((0, 1, 1, 1), "grade"),
        ((12, 1, 1, 1), "grade"),
        ((2.5, 1, 1, 1), "grade"),
        ((float("nan"), 1, 1, 1), "grade"),
        ((1, -1, 1, 1), "platform_assets_minor"),
        ((1, 1, 1.5, 1), "annual_income_minor"),
        ((1, 1, 1, float("nan")), "requested_line_minor"),
        ((1, 1e30, 1, 1), "platform_assets_minor"),
        ((1, "lots", 1, 1), "platform_assets_minor"),
    ],
)
def test_limit_inputs_are_checked(args: tuple[Any, ...], field: str) -> None:
    with pytest.raises(InputError) as err:
        credit_limit_minor(args[0], args[1], args[2], args[3], POLICY)
    assert err.value.field == field


amounts = st.integers(min_value=0, max_value=10**13)


@settings(deadline=None)  # a loaded shared CI machine must not make this flaky
@given(
    grade=st.integers(1, 11),
    assets=amounts,
    income=amounts,
    requested=amounts,
    k=st.floats(0.1, 3.0),
    m=st.floats(0.1, 10.0),
    unit=st.sampled_from([1, 100, 10_000, 12_345]),
)
def test_line_never_exceeds_any_cap_and_is_a_whole_unit(
    grade: int, assets: int, income: int, requested: int, k: float, m: float, unit: int
) -> None:
    doc = POLICY.model_dump()
    doc["limits"] |= {"asset_multiple": k, "income_multiple": m, "line_unit_minor": unit}
    policy = type(POLICY).model_validate(doc)
    line = int(credit_limit_minor(grade, assets, income, requested, policy))
    tier = int(policy.max_line_minor_by_grade[grade])
    assert 0 <= line <= min(tier, requested)
    assert line <= k * assets and line <= m * income
    assert line % unit == 0
    # rounding down loses less than one unit against the tightest cap
    tightest = int(limit_caps_minor(grade, assets, income, requested, policy).min())
    assert tightest - line < unit


def ko(**overrides: object) -> list[str]:
    base: dict[str, object] = {
        "age": 40,
        "identity_verified": True,
        "is_pep": False,
        "pep_reviewed": False,
        "sanctions_hit": False,
        "trading_history_days": 365,
        "platform_assets_minor": 5_000_000,
        "bureau_default_24m": False,
    }
    base |= overrides
    mask = knockout_mask(**base, policy=POLICY)  # type: ignore[arg-type]
    assert mask.shape == (1,)
    return codes_from_mask(int(mask[0]))


def test_clean_applicant_hits_no_knockout() -> None:
    assert ko() == []


@pytest.mark.parametrize(
    ("overrides", "codes"),
    [
        ({"sanctions_hit": True}, ["KO_SANCTIONS"]),
        ({"identity_verified": False}, ["KO_IDENTITY"]),
        ({"age": 17}, ["KO_AGE"]),
        ({"age": 17.99}, ["KO_AGE"]),
        ({"age": 18}, []),
        ({"age": 75}, []),
        ({"age": 76}, ["KO_AGE"]),
        ({"bureau_default_24m": True}, ["KO_BUREAU_DEFAULT"]),
        ({"trading_history_days": 89}, ["KO_HISTORY"]),
        ({"trading_history_days": 90}, []),
        ({"platform_assets_minor": 199_999}, ["KO_ASSETS"]),
        ({"platform_assets_minor": 200_000}, []),
        ({"is_pep": True}, ["KO_PEP_REVIEW"]),
        ({"is_pep": True, "pep_reviewed": True}, []),
        ({"pep_reviewed": True}, []),
        (
            {"sanctions_hit": True, "age": 90, "is_pep": True, "identity_verified": False},
            ["KO_SANCTIONS", "KO_IDENTITY", "KO_AGE", "KO_PEP_REVIEW"],
        ),
    ],
)
def test_each_knockout_rule(overrides: dict[str, object], codes: list[str]) -> None:
    assert ko(**overrides) == codes


def test_pep_is_a_referral_the_rest_decline() -> None:
    assert BIT["KO_PEP_REVIEW"] & REFER_BITS and not BIT["KO_PEP_REVIEW"] & DECLINE_BITS
    for code in ("KO_SANCTIONS", "KO_IDENTITY", "KO_AGE", "KO_BUREAU_DEFAULT", "KO_HISTORY", "KO_ASSETS"):
        assert BIT[code] & DECLINE_BITS


def test_knockouts_vectorised_and_flags_accept_0_1() -> None:
    mask = knockout_mask(
        age=np.array([30, 16, 30]),
        identity_verified=np.array([1, 1, 0]),
        is_pep=np.array([0, 0, 0]),
        pep_reviewed=np.array([0, 0, 0]),
        sanctions_hit=np.array([False, False, False]),
        trading_history_days=np.array([100.0, 100.0, 100.0]),
        platform_assets_minor=np.array([10**6, 10**6, 10**6]),
        bureau_default_24m=False,
        policy=POLICY,
    )
    assert [codes_from_mask(int(m)) for m in mask] == [[], ["KO_AGE"], ["KO_IDENTITY"]]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"age": -1}, "age"),
        ({"age": float("nan")}, "age"),
        ({"identity_verified": 2}, "identity_verified"),
        ({"is_pep": float("nan")}, "is_pep"),
        ({"sanctions_hit": "yes"}, "sanctions_hit"),
        ({"sanctions_hit": np.array([True, None], dtype=object)}, "sanctions_hit"),
        ({"trading_history_days": -3}, "trading_history_days"),
        ({"platform_assets_minor": -3}, "platform_assets_minor"),
    ],
)
def test_bad_knockout_inputs_are_input_errors(overrides: dict[str, object], field: str) -> None:
    with pytest.raises(InputError) as err:
        ko(**overrides)
    assert err.value.field == field
