"""Tiered credit lines and leverage by grade.

Line = min(tier cap of the grade, asset cap, m × annual income, requested), rounded DOWN
to the policy's line unit, as int64 minor units. Rounding down (never to nearest) keeps the
property "the line never exceeds any of its caps" true exactly. The asset cap is what the
collateral can carry: k × (conversion-rate-weighted collateral − the grade's haircut add-on
× assets) / the regime's initial-margin ratio (``pricing.policy.LimitPolicy``).

Money is int64 minor units; amounts above ``MAX_AMOUNT_MINOR`` (1e15) are refused as input
errors: a limit on everything, and it keeps k × amount in float64 exact to under one
minor unit for any amount a real book holds (below 2**53 / k).

Public API: ``credit_limit_minor``, ``limit_caps_minor``, ``max_leverage``, ``haircut_addon``,
``check_grade``, ``check_minor``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numpy.typing import ArrayLike

from creditdesk.errors import InputError
from pricing.policy import DEFAULT_GRADE, Policy

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

MAX_AMOUNT_MINOR = 10**15


def _whole_numbers(
    values: ArrayLike, field: str, bounds: tuple[int, int], *, not_numeric: str, not_whole: str, outside: str
) -> IntArray:
    """Integers as int64; whole floats are accepted too (a CSV or JSON column often arrives as
    float). A float is checked against ``bounds`` before the cast, because int64 would wrap it;
    integer input is cast as it is and range-checked by the caller, which names the bad value.
    Each refusal raises ``InputError`` on ``field`` with the caller's own message.
    """
    arr = np.asarray(values)
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64)
    try:
        as_float = arr.astype(np.float64)
    except (TypeError, ValueError):
        raise InputError(not_numeric, field=field) from None
    if not np.all(np.isfinite(as_float) & (as_float == np.round(as_float))):
        raise InputError(not_whole, field=field)
    low, high = bounds
    if not ((as_float >= low) & (as_float <= high)).all():
        raise InputError(outside, field=field)
    return as_float.astype(np.int64)


def check_grade(grade: ArrayLike, field: str = "grade") -> IntArray:
    """Master-scale grades as int64: integers 1..10, or 11 = in default."""
    not_a_grade = f"{field} must be an integer 1..{DEFAULT_GRADE}"
    out = _whole_numbers(
        grade,
        field,
        (-(2**31 - 1), 2**31 - 1),
        not_numeric=not_a_grade,
        not_whole=not_a_grade,
        outside=not_a_grade,
    )
    if not ((out >= 1) & (out <= DEFAULT_GRADE)).all():
        bad = int(out[(out < 1) | (out > DEFAULT_GRADE)].flat[0]) if out.ndim else int(out)
        raise InputError(f"{field} must be an integer 1..{DEFAULT_GRADE}, got {bad}", field=field)
    return out


def check_minor(amount: ArrayLike, field: str) -> IntArray:
    """A non-negative money amount in integer minor units (whole floats are accepted)."""
    out = _whole_numbers(
        amount,
        field,
        (0, MAX_AMOUNT_MINOR),
        not_numeric=f"{field} must be an integer amount of minor units",
        not_whole=f"{field} must be a whole number of minor units (no NaN)",
        outside=f"{field} must be in [0, {MAX_AMOUNT_MINOR}] minor units",
    )
    if not ((out >= 0) & (out <= MAX_AMOUNT_MINOR)).all():
        bad = int(out[(out < 0) | (out > MAX_AMOUNT_MINOR)].flat[0]) if out.ndim else int(out)
        raise InputError(f"{field} must be in [0, {MAX_AMOUNT_MINOR}] minor units, got {bad}", field=field)
    return out


def _asset_cap(
    grade: IntArray, assets: IntArray, policy: Policy, collateral: IntArray | None = None
) -> IntArray:
    """k × max(collateral − add-on × assets, 0) / initial margin ratio, floored to int.

    ``collateral`` = Σ holding × conversion rate (minor units); None -> ``conversion_rate`` ×
    assets. The grade's haircut add-on lowers every conversion rate by that much (DESIGN.md,
    "The margin maths"), so it comes off the collateral as add-on × assets.
    """
    limits = policy.limits
    value = limits.conversion_rate * assets if collateral is None else collateral.astype(np.float64)
    usable = np.maximum(value - policy.tables.haircut_addon[grade] * assets, 0.0)
    return (usable * (limits.asset_multiple / limits.initial_margin_ratio)).astype(np.int64)


def _cap_parts(
    grade: IntArray,
    assets: IntArray,
    income: IntArray,
    requested: IntArray,
    policy: Policy,
    collateral: IntArray | None = None,
) -> tuple[IntArray, IntArray, IntArray, IntArray]:
    """(tier cap, asset cap, m × income, requested); k × amount truncates = floors (>= 0)."""
    limits = policy.limits
    tier = policy.tables.max_line_minor[grade]
    asset_cap = _asset_cap(grade, assets, policy, collateral)
    income_cap = (limits.income_multiple * income).astype(np.int64)
    return tier, asset_cap, income_cap, requested


def _line_minor(
    grade: IntArray,
    assets: IntArray,
    income: IntArray,
    requested: IntArray,
    policy: Policy,
    collateral: IntArray | None = None,
) -> IntArray:
    """The line for validated inputs: min of the caps, rounded down to the line unit."""
    tier, asset_cap, income_cap, req = _cap_parts(grade, assets, income, requested, policy, collateral)
    line = np.minimum(np.minimum(tier, asset_cap), np.minimum(income_cap, req))
    unit = policy.limits.line_unit_minor
    return line // unit * unit


def _caps(
    grade: IntArray,
    assets: IntArray,
    income: IntArray,
    requested: IntArray,
    policy: Policy,
    collateral: IntArray | None = None,
) -> IntArray:
    return np.stack(np.broadcast_arrays(*_cap_parts(grade, assets, income, requested, policy, collateral)))


def limit_caps_minor(
    grade: ArrayLike,
    platform_assets_minor: ArrayLike,
    annual_income_minor: ArrayLike,
    requested_line_minor: ArrayLike,
    policy: Policy,
) -> IntArray:
    """The four caps stacked as rows (tier, assets, income, requested), before rounding.

    ``argmin`` over rows says which cap binds; the decision uses it to explain a cut line.
    """
    return _caps(
        check_grade(grade),
        check_minor(platform_assets_minor, "platform_assets_minor"),
        check_minor(annual_income_minor, "annual_income_minor"),
        check_minor(requested_line_minor, "requested_line_minor"),
        policy,
    )


def credit_limit_minor(
    grade: ArrayLike,
    platform_assets_minor: ArrayLike,
    annual_income_minor: ArrayLike,
    requested_line_minor: ArrayLike,
    policy: Policy,
) -> IntArray:
    """min(tier cap, k × assets, m × income, requested), rounded down to ``line_unit_minor``.

    Grade 11 (default) has a tier cap of 0. Acceptance is not decided here (see decide).
    """
    return _line_minor(
        check_grade(grade),
        check_minor(platform_assets_minor, "platform_assets_minor"),
        check_minor(annual_income_minor, "annual_income_minor"),
        check_minor(requested_line_minor, "requested_line_minor"),
        policy,
    )


def max_leverage(grade: ArrayLike, policy: Policy) -> FloatArray:
    """Maximum loan / own equity for each grade's tier (0 for grade 11)."""
    return policy.max_leverage_by_grade[check_grade(grade)]


def haircut_addon(grade: ArrayLike, policy: Policy) -> FloatArray:
    """Haircut add-on the margin room adds to instrument haircuts (1.0 = no collateral value
    for grade 11, which has no tier)."""
    return policy.haircut_addon_by_grade[check_grade(grade)]
