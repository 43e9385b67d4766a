"""Margin of conservatism (MoC) on the PD, per grade, from the latest vintage's evidence.

Method (stated, so a validator can redo it): on the out-of-time sample, for every grade of
the master scale, take the upper bound of the one-sided 95 % Jeffreys interval of the
grade's observed default rate, Beta(D + ½, N − D + ½); the grade's add-on is how far that
bound lies above the grade's mean model PD (never negative: a grade whose PD already covers
the bound gets none). Grades with no rows get none; adjacent grades with fewer than
``MOC_MIN_ROWS`` rows are pooled and share their pool's add-on. The add-on is applied as a
piecewise-linear function of PD through the grades' geometric mid-points, flattened where
needed so that PD + add-on never decreases (its slope stays ≥ −1): the ranking is kept and
no applicant's PD goes down.

Adding the MoC moves some applicants into a worse grade, and pooled grades test with more
power than the grades they came from, so a further step adds, for grades that now fail
the Jeffreys test, the gap to their upper bound (at most ``MOC_MAX_STEPS`` steps). Each step
is a monotone map, so their composition is too; the steps are recorded and applied in order.

This follows the structure of EBA/GL/2017/16 (PD and LGD estimation), sections 4.4 and 5.3:
a MoC quantified for identified estimation error, applied on top of the best estimate and
recorded with the model. The add-ons live in the PD bundle, so every scorer applies them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from models.master_scale import GRADE_BANDS, grade_of

MOC_CONFIDENCE = 0.95
MOC_MIN_ROWS = 50
"""Fewest out-of-time rows a grade's bound rests on; sparser grades pool with neighbours
(0 defaults in 1 row bounds the rate at 0.44, which would grade everyone 10)."""
MOC_MAX_STEPS = 3
MOC_METHOD = (
    "per grade (adjacent grades pooled to >= 50 rows): max(0, upper bound of the one-sided 95% "
    "Jeffreys interval of the out-of-time default rate - mean PD), interpolated in PD through the "
    "grade mid-points with slope >= -1; PD' = min(PD + add-on, 0.9999); then, for grades failing "
    "the Jeffreys test after regrading, the same again (at most 3 steps)"
)
PD_CAP = 0.9999
_MIDS = np.array([band.pd_mid for band in GRADE_BANDS])


def _pools(grades: NDArray[np.int64]) -> list[list[int]]:
    """Adjacent populated grades merged until each pool holds ``MOC_MIN_ROWS`` rows (a short
    last pool joins the one before it): a grade's bound is only as wide as its evidence."""
    counts = np.bincount(grades, minlength=len(GRADE_BANDS) + 2)
    pools: list[list[int]] = []
    current: list[int] = []
    for g in range(1, len(GRADE_BANDS) + 1):
        if counts[g] == 0:
            continue
        current.append(g)
        if sum(int(counts[k]) for k in current) >= MOC_MIN_ROWS:
            pools.append(current)
            current = []
    if current:
        if pools:
            pools[-1].extend(current)
        else:
            pools.append(current)
    return pools


def _upper_gaps(
    y: NDArray[np.float64], p_arr: NDArray[np.float64], confidence: float, failing_only: bool
) -> NDArray[np.float64]:
    grades = grade_of(p_arr)
    add = np.zeros(len(GRADE_BANDS))
    for pool in _pools(grades):
        rows = np.isin(grades, pool)
        n = int(rows.sum())
        d = float(y[rows].sum())
        mean_pd = float(p_arr[rows].mean())
        if failing_only and stats.beta.cdf(mean_pd, d + 0.5, n - d + 0.5) >= 1.0 - confidence:
            continue
        gap = max(0.0, float(stats.beta.ppf(confidence, d + 0.5, n - d + 0.5)) - mean_pd)
        add[np.asarray(pool) - 1] = gap
    return add


def _monotone(add: NDArray[np.float64]) -> NDArray[np.float64]:
    """Raise later knots just enough that PD + interpolated add-on never decreases."""
    out = add.copy()
    for g in range(1, out.size):
        out[g] = max(out[g], out[g - 1] - (_MIDS[g] - _MIDS[g - 1]))
    return out


def grade_add_ons(y: ArrayLike, pd_: ArrayLike, confidence: float = MOC_CONFIDENCE) -> NDArray[np.float64]:
    """Add-on at each grade's mid-point, grades 1..10 (index 0 = grade 1)."""
    y_arr = np.asarray(y, dtype=np.float64)
    return _monotone(_upper_gaps(y_arr, np.asarray(pd_, dtype=np.float64), confidence, failing_only=False))


def moc_record(y: ArrayLike, pd_: ArrayLike, sample: str) -> dict[str, Any]:
    """What the bundle and the run record: method, sample, confidence, add-ons per grade per step."""
    y_arr = np.asarray(y, dtype=np.float64)
    adjusted = np.asarray(pd_, dtype=np.float64)
    steps: list[list[float]] = []
    for step in range(MOC_MAX_STEPS):
        add = _monotone(_upper_gaps(y_arr, adjusted, MOC_CONFIDENCE, failing_only=step > 0))
        if not np.any(add > 1e-12):
            break
        steps.append([float(v) for v in add])
        adjusted = _step(adjusted, add)
    return {"method": MOC_METHOD, "sample": sample, "confidence": MOC_CONFIDENCE, "steps": steps,
            "add_on_by_grade": steps[0] if steps else [0.0] * len(GRADE_BANDS)}  # fmt: skip


def _step(pd_: NDArray[np.float64], add: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.minimum(pd_ + np.interp(pd_, _MIDS, add), PD_CAP)


def apply_moc(pd_: ArrayLike, moc: Mapping[str, Any]) -> NDArray[np.float64]:
    """PD plus each recorded step's add-on, in order, capped at 0.9999."""
    out = np.asarray(pd_, dtype=np.float64)
    for add in moc.get("steps", [moc["add_on_by_grade"]]):
        out = _step(out, np.asarray(add, dtype=np.float64))
    return out
