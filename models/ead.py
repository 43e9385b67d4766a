"""EAD for a credit line: EAD = drawn + CCF × (limit − drawn), CCF estimated by grade.

Borrowers draw more of a line as they approach default, so exposure at default exceeds
today's drawn amount; the credit conversion factor (CCF) is the share of the undrawn
part that is drawn by default.

Which "drawn" the CCF is measured from matters (DESIGN.md, "Defaults, exposure and pricing
conventions"): the decision prices a NEW line, on which nothing is drawn at the application
date, so the CCF it uses is measured from that date: CCF = EAD / limit (``onboarding_ccf``;
the "limit factor" of PRA SS11/13 §17.2), and EAD of a new line = CCF × limit. A CCF
measured from the draw just after opening, (EAD − drawn at open) / (limit − drawn at open),
times the whole limit understated EAD by about 30 % (issue 13). EAD includes the interest
accrued to default (PRA SS11/13 §14.3), so a fully drawn line defaults with EAD above its
limit and the factor may exceed 1, up to ``MAX_CCF``.

Σ predicted EAD must match Σ realised EAD (EL, capital and interest are sums of money), so
each grade's CCF is the limit-weighted mean Σ EAD / Σ limit, not the plain mean of ratios
(large lines draw more). With a few hundred defaults a per-grade mean is what the data
supports; each grade's mean is shrunk towards the pooled mean in proportion to how few
defaults it has (credibility weighting), and a grade never seen falls back to the pooled
mean. Pure numpy: the online path looks a CCF up in an 11-element array.

Drawing behaviour drifts with the market (the 2008 cohort defaulted quickly, before drawing
the rest of its line), so a CCF for the NEXT applications may weight recent cohorts more:
retail EAD estimates "need not give equal importance to historic data" where more recent
data predict draw-downs better (CRR Art. 182(3); Basel II ¶478), and a lower weight on a
period must be "justified by better prediction" (Delegated Regulation (EU) 2022/439 Art.
45(c)). ``select_half_life`` gives that justification from the training data alone: a
rolling-origin backtest over older defaults picks the exponential half-life (by application
date) whose CCF best predicts Σ EAD of the next window; no decay wins ties.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_array, check_is_fitted, column_or_1d

from creditdesk.errors import InputError
from models.master_scale import DEFAULT_GRADE

MAX_CCF = 1.25
"""Upper bound of a CCF measured from the application date: a line drawn in full at once
defaults with a year of interest and fees on top (8 % a year -> 1.08); 1.25 leaves room for
fees and a longer workout, and anything above it is a data error."""


HALF_LIFE_GRID_YEARS: tuple[float | None, ...] = (None, 5.0, 3.0, 2.0, 1.0)
"""Half-lives tried by ``select_half_life`` (None: every cohort weighs the same). Fixed in
advance, not tuned: 5 years is the minimum retail EAD observation period (CRR Art. 182(3)),
1 year the shortest that still spreads weight over several annual cohorts."""

BACKTEST_ORIGINS = (0.5, 0.6, 0.7, 0.8, 0.9)
"""Rolling-origin backtest: at each share of the dated defaults, fit on the older ones and
score Σ predicted / Σ realised EAD on the next 10 %."""


def exposure_at_default(drawn: ArrayLike, limit: ArrayLike, ccf: ArrayLike) -> NDArray[np.float64]:
    """EAD = drawn + CCF × max(limit − drawn, 0); the same units as ``drawn`` and ``limit``."""
    d = np.asarray(drawn, dtype=np.float64)
    lim = np.asarray(limit, dtype=np.float64)
    c = np.asarray(ccf, dtype=np.float64)
    if np.any(d < 0) or np.any(lim < 0):
        raise InputError("drawn and limit must be non-negative", field="drawn")
    if np.any((c < 0) | (c > MAX_CCF)):
        raise InputError(f"ccf must lie in [0, {MAX_CCF}]", field="ccf")
    return d + c * np.maximum(lim - d, 0.0)


def onboarding_ccf(ead: ArrayLike, limit: ArrayLike) -> NDArray[np.float64]:
    """CCF measured from the application date (nothing drawn): EAD / limit, in [0, MAX_CCF];
    NaN where there is no line. The label the decision's ``ead = ccf × limit`` needs."""
    e = np.asarray(ead, dtype=np.float64)
    lim = np.asarray(limit, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ccf = np.where(lim > 0, e / lim, np.nan)
    return np.clip(ccf, 0.0, MAX_CCF)


def realised_ccf(drawn_at_reference: ArrayLike, limit: ArrayLike, ead: ArrayLike) -> NDArray[np.float64]:
    """Observed CCF = (EAD − drawn) / (limit − drawn), clipped to [0, 1]; NaN when fully drawn."""
    d = np.asarray(drawn_at_reference, dtype=np.float64)
    lim = np.asarray(limit, dtype=np.float64)
    e = np.asarray(ead, dtype=np.float64)
    undrawn = lim - d
    with np.errstate(divide="ignore", invalid="ignore"):
        ccf = np.where(undrawn > 0, (e - d) / undrawn, np.nan)
    return np.clip(ccf, 0.0, 1.0)


def _grade_column(grades: ArrayLike) -> NDArray[np.float64]:
    """Grades as one column: a 1-d array or an (n, 1) matrix; dense, real, finite, non-empty."""
    arr = check_array(grades, ensure_2d=False, dtype=np.float64, input_name="X")
    if arr.ndim == 2:
        if arr.shape[1] != 1:
            raise InputError(f"X is one column of grades 1..11, got {arr.shape[1]} columns", field="grade")
        arr = arr[:, 0]
    if np.any(arr != np.floor(arr)):
        raise InputError("grades must be integers 1..11", field="grade")
    return arr


class CCFByGrade(RegressorMixin, BaseEstimator):
    """Mean CCF per grade (1..11), shrunk towards the pooled mean with weight k / (n + k).

    With ``sample_weight`` = the limit, a grade's mean is Σ EAD / Σ limit, so Σ CCF × limit
    reproduces Σ EAD (the shrinkage counts k average-sized observations of the pooled mean).
    """

    def __init__(self, *, shrinkage: float = 20.0) -> None:
        self.shrinkage = shrinkage

    def fit(self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None) -> CCFByGrade:
        """``X``: each row's grade (1..11; a 1-d array or one column); ``y``: its CCF (NaN: skipped)."""
        if y is None:
            raise InputError("CCFByGrade requires y to be passed, but the target y is None", field="ccf")
        g = _grade_column(X)
        c = column_or_1d(check_array(y, ensure_2d=False, dtype=np.float64, ensure_all_finite="allow-nan"))
        w = np.ones_like(c) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64).ravel()
        if g.shape != c.shape or g.size == 0 or w.shape != c.shape:
            raise InputError("grades, ccf and weights must be non-empty and of equal length", field="ccf")
        if not np.all(np.isfinite(w) & (w >= 0)):
            raise InputError("sample_weight must be finite and >= 0", field="sample_weight")
        ok = np.isfinite(c) & (w > 0)
        if not ok.any():
            raise InputError("no finite CCF observation", field="ccf")
        g, c, w = g[ok].astype(np.int64), c[ok], w[ok]
        if np.any((g < 1) | (g > DEFAULT_GRADE)):
            raise InputError("grades must be integers 1..11", field="grade")
        if np.any((c < 0) | (c > MAX_CCF)):
            raise InputError(f"ccf must lie in [0, {MAX_CCF}]", field="ccf")
        w = w / w.mean()  # shrinkage in units of an average observation
        counts = np.bincount(g, minlength=DEFAULT_GRADE + 1)[1:]
        weights = np.bincount(g, weights=w, minlength=DEFAULT_GRADE + 1)[1:]
        sums = np.bincount(g, weights=w * c, minlength=DEFAULT_GRADE + 1)[1:]
        pooled = float(np.sum(w * c) / np.sum(w))
        k = self.shrinkage
        self.n_features_in_ = 1
        self.pooled_ccf_ = pooled
        self.counts_ = counts.astype(np.int64)
        denom = weights + k
        shrunk = np.divide(sums + k * pooled, denom, out=np.full(denom.shape, pooled), where=denom > 0)
        self.ccf_by_grade_ = shrunk  # a grade never seen (and k = 0): the pooled mean
        return self

    def predict(self, X: ArrayLike) -> NDArray[np.float64]:
        """The CCF of each row's grade (``X``: grades 1..11, a 1-d array or one column)."""
        check_is_fitted(self)
        g = _grade_column(X).astype(np.int64)
        if np.any((g < 1) | (g > DEFAULT_GRADE)):
            raise InputError("grades must be integers 1..11", field="grade")
        return np.asarray(self.ccf_by_grade_[g - 1], dtype=np.float64)


def recency_weights(
    days: ArrayLike, reference_day: float, half_life_years: float | None
) -> NDArray[np.float64]:
    """0.5 ** (age / half-life), age = reference day − application day in years (days as
    numbers, e.g. days since the epoch); all ones without a half-life."""
    d = np.asarray(days, dtype=np.float64)
    if half_life_years is None:
        return np.ones_like(d)
    if not half_life_years > 0:
        raise InputError("half_life_years must be > 0", field="half_life_years")
    age_years = np.maximum(reference_day - d, 0.0) / 365.25
    return np.asarray(0.5 ** (age_years / half_life_years), dtype=np.float64)


def select_half_life(
    grades: ArrayLike,
    ccf: ArrayLike,
    limit: ArrayLike,
    days: ArrayLike,
    *,
    grid: tuple[float | None, ...] = HALF_LIFE_GRID_YEARS,
    shrinkage: float = 20.0,
) -> tuple[float | None, dict[str, float]]:
    """The half-life of ``grid`` whose limit- and recency-weighted CCF by grade, fitted on the
    defaults before each origin of BACKTEST_ORIGINS (weights aged from the last of them),
    predicts Σ EAD (= CCF × limit) of the next window best: least mean |log(Σ pred / Σ EAD)|.

    Only the rows given (the training defaults) are used, so a hold-out after them stays
    unseen. Returns the half-life (None: no decay; it wins ties and too short a history)
    and each candidate's score keyed by ``str(half_life)``.
    """
    g = np.asarray(grades, dtype=np.float64)
    c = np.asarray(ccf, dtype=np.float64)
    lim = np.asarray(limit, dtype=np.float64)
    d = np.asarray(days, dtype=np.float64)
    if not (g.shape == c.shape == lim.shape == d.shape):
        raise InputError("grades, ccf, limit and days must be of equal length", field="ccf")
    order = np.argsort(d, kind="mergesort")
    g, c, lim, d = g[order], c[order], lim[order], d[order]
    n = d.size
    scores: dict[str, float] = {}
    for half_life in grid:
        errors = []
        for origin in BACKTEST_ORIGINS:
            k, k2 = int(origin * n), min(int((origin + 0.1) * n), n)
            if k < 2 * DEFAULT_GRADE or k2 <= k:
                continue
            w = lim[:k] * recency_weights(d[:k], float(d[k - 1]), half_life)
            model = CCFByGrade(shrinkage=shrinkage).fit(g[:k], c[:k], sample_weight=w)
            realised = float(np.sum(c[k:k2] * lim[k:k2]))
            if realised > 0:
                errors.append(abs(np.log(float(np.sum(model.predict(g[k:k2]) * lim[k:k2])) / realised)))
        if errors:
            scores[str(half_life)] = float(np.mean(errors))
    if str(None) not in scores:
        return None, scores
    least = min(scores.values())
    best = next(h for h in grid if scores.get(str(h), np.inf) <= least + 1e-12)  # ties: the longest
    return best, scores
