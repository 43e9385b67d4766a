"""EAD for a credit line: EAD = drawn + CCF × (limit − drawn), CCF estimated by grade.

Borrowers draw more of a line as they approach default, so exposure at default exceeds
today's drawn amount; the credit conversion factor (CCF) is the share of the undrawn
part that is drawn by default. With a few hundred defaults a per-grade mean is what the
data supports; each grade's mean is shrunk towards the pooled mean in proportion to how
few defaults it has (credibility weighting), and a grade never seen falls back to the
pooled mean. Pure numpy: the online path looks a CCF up in an 11-element array.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator, RegressorMixin

from creditdesk.errors import InputError
from models.master_scale import DEFAULT_GRADE


def exposure_at_default(drawn: ArrayLike, limit: ArrayLike, ccf: ArrayLike) -> NDArray[np.float64]:
    """EAD = drawn + CCF × max(limit − drawn, 0); the same units as ``drawn`` and ``limit``."""
    d = np.asarray(drawn, dtype=np.float64)
    lim = np.asarray(limit, dtype=np.float64)
    c = np.asarray(ccf, dtype=np.float64)
    if np.any(d < 0) or np.any(lim < 0):
        raise InputError("drawn and limit must be non-negative", field="drawn")
    if np.any((c < 0) | (c > 1)):
        raise InputError("ccf must lie in [0, 1]", field="ccf")
    return d + c * np.maximum(lim - d, 0.0)


def realised_ccf(drawn_at_reference: ArrayLike, limit: ArrayLike, ead: ArrayLike) -> NDArray[np.float64]:
    """Observed CCF = (EAD − drawn) / (limit − drawn), clipped to [0, 1]; NaN when fully drawn."""
    d = np.asarray(drawn_at_reference, dtype=np.float64)
    lim = np.asarray(limit, dtype=np.float64)
    e = np.asarray(ead, dtype=np.float64)
    undrawn = lim - d
    with np.errstate(divide="ignore", invalid="ignore"):
        ccf = np.where(undrawn > 0, (e - d) / undrawn, np.nan)
    return np.clip(ccf, 0.0, 1.0)


class CCFByGrade(RegressorMixin, BaseEstimator):
    """Mean CCF per grade (1..11), shrunk towards the pooled mean with weight k / (n + k)."""

    def __init__(self, *, shrinkage: float = 20.0) -> None:
        self.shrinkage = shrinkage

    def fit(self, grades: ArrayLike, ccf: ArrayLike) -> CCFByGrade:
        g = np.asarray(grades).ravel()
        c = np.asarray(ccf, dtype=np.float64).ravel()
        if g.shape != c.shape or g.size == 0:
            raise InputError("grades and ccf must be non-empty and of equal length", field="ccf")
        ok = np.isfinite(c)
        if not ok.any():
            raise InputError("no finite CCF observation", field="ccf")
        g, c = g[ok].astype(np.int64), c[ok]
        if np.any((g < 1) | (g > DEFAULT_GRADE)):
            raise InputError("grades must be integers 1..11", field="grade")
        if np.any((c < 0) | (c > 1)):
            raise InputError("ccf must lie in [0, 1]", field="ccf")
        counts = np.bincount(g, minlength=DEFAULT_GRADE + 1)[1:].astype(np.float64)
        sums = np.bincount(g, weights=c, minlength=DEFAULT_GRADE + 1)[1:]
        pooled = float(c.mean())
        k = self.shrinkage
        self.pooled_ccf_ = pooled
        self.counts_ = counts.astype(np.int64)
        self.ccf_by_grade_ = (sums + k * pooled) / (counts + k)
        return self

    def predict(self, grades: ArrayLike) -> NDArray[np.float64]:
        g = np.asarray(grades).astype(np.int64)
        if np.any((g < 1) | (g > DEFAULT_GRADE)):
            raise InputError("grades must be integers 1..11", field="grade")
        return np.asarray(self.ccf_by_grade_[g - 1], dtype=np.float64)
