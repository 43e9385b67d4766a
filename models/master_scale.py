"""The master scale: PD → grade 1..10, plus grade 11 for accounts already in default.

Pricing, limits and monitoring speak in grades, so the bands live in one place. Bands
double in width (a 2× PD step per grade, as on most bank master scales), so each grade is
an equal step on the log-odds scale that capital and pricing respond to. PDs are floored
at 0.05% (Basel IRB retail floor) before grading, so no applicant looks riskless.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from creditdesk.errors import InputError

PD_FLOOR = 0.0005
DEFAULT_GRADE = 11


@dataclass(frozen=True)
class GradeBand:
    """PD in [pd_lower, pd_upper) gets ``grade``; ``pd_mid`` is the geometric midpoint."""

    grade: int
    pd_lower: float
    pd_upper: float

    @property
    def pd_mid(self) -> float:
        return float(np.sqrt(self.pd_lower * self.pd_upper))


_UPPERS = (0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 1.0)
GRADE_BANDS: tuple[GradeBand, ...] = tuple(
    GradeBand(grade=g + 1, pd_lower=PD_FLOOR if g == 0 else _UPPERS[g - 1], pd_upper=_UPPERS[g])
    for g in range(len(_UPPERS))
)
"""Grades 1..10; grade 10 runs up to (excluding) PD 1.0. Grade 11 = default, not a band."""

_INNER_EDGES = np.array(_UPPERS[:-1])


def floor_pd(pd_: ArrayLike) -> NDArray[np.float64]:
    """PD floored at 0.05%: what capital, pricing and grading use."""
    arr = np.asarray(pd_, dtype=float)
    if np.any(~np.isfinite(arr)) or np.any((arr < 0) | (arr > 1)):
        raise InputError("pd must be a probability in [0, 1]", field="pd")
    return np.maximum(arr, PD_FLOOR)


def grade_of(pd_: ArrayLike, defaulted: ArrayLike | None = None) -> NDArray[np.int64]:
    """Grade 1 (best) .. 10 for each PD; 11 where ``defaulted`` is true or PD is 1.

    Monotone non-decreasing in PD by construction (a ``searchsorted`` on sorted edges).
    A PD equal to a band's upper edge belongs to the next (worse) grade.
    """
    arr = floor_pd(pd_)
    grades = np.searchsorted(_INNER_EDGES, arr, side="right").astype(np.int64) + 1
    is_default = arr >= 1.0
    if defaulted is not None:
        flags = np.asarray(defaulted, dtype=bool)
        if flags.shape != arr.shape:
            raise InputError("defaulted must have the same shape as pd", field="defaulted")
        is_default = is_default | flags
    return np.where(is_default, DEFAULT_GRADE, grades)


def grade_pd(grade: ArrayLike) -> NDArray[np.float64]:
    """Representative PD of each grade (geometric band midpoint; 1.0 for grade 11)."""
    g = np.asarray(grade)
    if np.any((g < 1) | (g > DEFAULT_GRADE)) or np.any(g != np.floor(g)):
        raise InputError("grade must be an integer 1..11", field="grade")
    mids = np.array([b.pd_mid for b in GRADE_BANDS] + [1.0])
    return mids[g.astype(np.int64) - 1]
