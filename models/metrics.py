"""Validation maths for PD models and drift: discrimination, calibration, stability.

Pure numpy/scipy, vectorised, no I/O, so training, the validation pack and monitoring all
compute the same numbers. Each function takes array-likes and returns floats, arrays or
(for the per-bin PSI table) a DataFrame.

Conventions: ``y`` is 1 for a default ("bad") and 0 otherwise; a higher ``score`` or ``pd``
means more risk. Inputs are validated (length, finiteness, binary ``y``) with
``InputError`` because these functions sit behind CLI and monitoring jobs that read files.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from creditdesk.errors import InputError

PSI_EPSILON = 1e-4
"""Share given to an empty bin before taking logs. Without it one empty bin makes PSI
infinite; 1e-4 (one applicant in ten thousand) keeps a genuinely empty bin visible (it
adds about 0.0009·ln term per bin) without letting it dominate the index."""

PSI_STABLE_BELOW = 0.10
PSI_ACT_FROM = 0.25

PsiBand = Literal["stable", "watch", "act"]


def _binary_and_scores(y: ArrayLike, score: ArrayLike, name: str = "score") -> tuple[NDArray, NDArray]:
    y_arr = np.asarray(y, dtype=float).ravel()
    s_arr = np.asarray(score, dtype=float).ravel()
    if y_arr.shape != s_arr.shape:
        raise InputError(f"y has {y_arr.size} values but {name} has {s_arr.size}", field=name)
    if y_arr.size == 0:
        raise InputError("no observations", field="y")
    if not np.all(np.isfinite(s_arr)):
        raise InputError(f"{name} must be finite (found NaN or inf)", field=name)
    if not np.all((y_arr == 0) | (y_arr == 1)):
        raise InputError("y must be 0 (good) or 1 (bad)", field="y")
    return y_arr, s_arr


def _need_both_classes(y: NDArray) -> None:
    n_bad = int(y.sum())
    if n_bad == 0 or n_bad == y.size:
        raise InputError("y must contain both goods and bads", field="y")


def auc(y: ArrayLike, score: ArrayLike) -> float:
    """Area under the ROC curve by the Mann-Whitney rank sum; ties count one half.

    Rank form rather than a trapezoid over thresholds: exact with ties and O(n log n).
    """
    y_arr, s_arr = _binary_and_scores(y, score)
    _need_both_classes(y_arr)
    ranks = stats.rankdata(s_arr)  # average ranks: a tie between a bad and a good counts 1/2
    n_bad = y_arr.sum()
    n_good = y_arr.size - n_bad
    rank_sum_bad = ranks[y_arr == 1].sum()
    return float((rank_sum_bad - n_bad * (n_bad + 1) / 2) / (n_bad * n_good))


def gini(y: ArrayLike, score: ArrayLike) -> float:
    """Accuracy ratio (Somers' D) = 2·AUC − 1, the figure risk committees quote."""
    return 2.0 * auc(y, score) - 1.0


def ks_statistic(y: ArrayLike, score: ArrayLike) -> float:
    """Kolmogorov-Smirnov distance between the score distributions of bads and goods.

    Evaluated only at distinct score values, so tied scores never split a group and the
    statistic does not depend on the order of tied rows.
    """
    y_arr, s_arr = _binary_and_scores(y, score)
    _need_both_classes(y_arr)
    order = np.argsort(s_arr, kind="mergesort")
    s_sorted = s_arr[order]
    y_sorted = y_arr[order]
    cum_bad = np.cumsum(y_sorted) / y_sorted.sum()
    cum_good = np.cumsum(1 - y_sorted) / (1 - y_sorted).sum()
    last_of_value = np.r_[s_sorted[1:] != s_sorted[:-1], True]
    return float(np.max(np.abs(cum_bad[last_of_value] - cum_good[last_of_value])))


def _probabilities(p: ArrayLike, name: str = "pd") -> NDArray:
    arr = np.asarray(p, dtype=float).ravel()
    if not np.all(np.isfinite(arr)) or np.any((arr < 0) | (arr > 1)):
        raise InputError(f"{name} must be probabilities in [0, 1]", field=name)
    return arr


def brier(y: ArrayLike, pd_: ArrayLike) -> float:
    """Mean squared error of the PD against the 0/1 outcome."""
    y_arr, p_arr = _binary_and_scores(y, pd_, name="pd")
    _probabilities(p_arr)
    return float(np.mean((p_arr - y_arr) ** 2))


def expected_calibration_error(
    y: ArrayLike, pd_: ArrayLike, bins: int = 10, strategy: Literal["quantile", "uniform"] = "quantile"
) -> float:
    """Σ_b (n_b / N)·|mean PD_b − default rate_b|.

    Bins are equal-count (PD quantiles) by default: credit PDs crowd below a few percent,
    so equal-width bins on [0, 1] would put nearly everyone in the first bin and hide
    miscalibration where the portfolio actually is. ``strategy="uniform"`` gives the
    textbook equal-width variant. Tied PDs never straddle a bin edge.
    """
    y_arr, p_arr = _binary_and_scores(y, pd_, name="pd")
    _probabilities(p_arr)
    if bins < 1:
        raise InputError("bins must be at least 1", field="bins")
    if strategy == "uniform":
        edges = np.linspace(0.0, 1.0, bins + 1)
    else:
        edges = np.unique(np.quantile(p_arr, np.linspace(0.0, 1.0, bins + 1)))
    # Bin index by the inner edges only: values equal to an edge go to the upper bin.
    idx = np.searchsorted(edges[1:-1], p_arr, side="right")
    n_bins = max(len(edges) - 1, 1)
    counts = np.bincount(idx, minlength=n_bins).astype(float)
    sum_pd = np.bincount(idx, weights=p_arr, minlength=n_bins)
    sum_y = np.bincount(idx, weights=y_arr, minlength=n_bins)
    used = counts > 0
    gap = np.abs(sum_pd[used] - sum_y[used]) / counts[used]
    return float(np.sum(counts[used] / y_arr.size * gap))


def _counts(defaults: ArrayLike, n: ArrayLike, mean_pd: ArrayLike) -> tuple[NDArray, NDArray, NDArray]:
    d = np.asarray(defaults, dtype=float)
    n_arr = np.asarray(n, dtype=float)
    p = np.asarray(mean_pd, dtype=float)
    if np.any(n_arr < 1) or np.any(d < 0) or np.any(d > n_arr) or np.any(d != np.floor(d)):
        raise InputError("need integer counts with 0 <= defaults <= n and n >= 1", field="defaults")
    if np.any(~np.isfinite(p)) or np.any((p < 0) | (p > 1)):
        raise InputError("mean_pd must be a probability in [0, 1]", field="mean_pd")
    return d, n_arr, p


def jeffreys_test(defaults: ArrayLike, n: ArrayLike, mean_pd: ArrayLike) -> float | NDArray:
    """One-sided Jeffreys test of a grade's PD (ECB/EBA IRB validation practice).

    The posterior of the default rate under the Jeffreys prior is Beta(D + ½, N − D + ½);
    the p-value is its CDF at the mean predicted PD, i.e. the posterior probability that
    the true rate is at or below what we predicted. A small p-value says the model
    underestimates risk in that grade (the conservative direction a regulator cares about).
    Vectorised over grades; returns a float for scalar input.
    """
    d, n_arr, p = _counts(defaults, n, mean_pd)
    out = stats.beta.cdf(p, d + 0.5, n_arr - d + 0.5)
    return float(out) if np.ndim(out) == 0 else np.asarray(out, dtype=float)


def binomial_test(defaults: ArrayLike, n: ArrayLike, mean_pd: ArrayLike) -> float | NDArray:
    """One-sided exact binomial test: P(X ≥ D) for X ~ Binomial(N, mean PD).

    Small p-value: more defaults than the PD allows (PD underestimates risk). Assumes
    independent defaults, so it is stricter than reality in a correlated downturn.
    """
    d, n_arr, p = _counts(defaults, n, mean_pd)
    out = stats.binom.sf(d - 1, n_arr, p)
    return float(out) if np.ndim(out) == 0 else np.asarray(out, dtype=float)


def _is_categorical(values: NDArray | pd.Series) -> bool:
    dtype = getattr(values, "dtype", None)
    if dtype is None:
        return False
    return bool(
        pd.api.types.is_object_dtype(dtype)
        or pd.api.types.is_bool_dtype(dtype)
        or isinstance(dtype, pd.CategoricalDtype)
        or pd.api.types.is_string_dtype(dtype)
    )


def _right_closed_counts(values: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """Counts of ``values`` in the bins (-inf, e0], (e0, e1], ..., (e_last, inf)."""
    at_or_below = [np.count_nonzero(values <= edge) for edge in inner]
    return np.diff(np.r_[0, at_or_below, values.size]).astype(float)


def psi_by_bin(reference: ArrayLike, current: ArrayLike, bins: int = 10) -> pd.DataFrame:
    """Population (or characteristic) stability per bin: the CSI table behind ``psi``.

    Numeric values: bins are the reference deciles (``bins`` quantiles, each an observed
    reference value). Tied quantiles are
    merged, so a feature with few distinct values gets fewer, honest bins instead of empty
    duplicates; the outer bins are open (−inf, +inf), so current values outside the
    reference range land in the first or last bin rather than being dropped. Missing
    values (NaN) get their own bin. Categorical values (object, category or bool dtype):
    one bin per level seen in either sample. Shares of an empty bin are replaced by
    ``PSI_EPSILON`` before taking the log.

    Columns: bin, lower, upper, ref_count, cur_count, ref_share, cur_share, psi.
    """
    ref_s = pd.Series(reference) if not isinstance(reference, pd.Series) else reference
    cur_s = pd.Series(current) if not isinstance(current, pd.Series) else current
    if len(ref_s) == 0 or len(cur_s) == 0:
        raise InputError("reference and current samples must both be non-empty", field="reference")
    if bins < 1:
        raise InputError("bins must be at least 1", field="bins")

    if _is_categorical(ref_s) or _is_categorical(cur_s):
        ref_c = ref_s.astype(object).where(ref_s.notna(), "<missing>")
        cur_c = cur_s.astype(object).where(cur_s.notna(), "<missing>")
        levels = sorted(set(ref_c.unique()) | set(cur_c.unique()), key=str)
        ref_counts = ref_c.value_counts().reindex(levels, fill_value=0).to_numpy(dtype=float)
        cur_counts = cur_c.value_counts().reindex(levels, fill_value=0).to_numpy(dtype=float)
        labels = [str(v) for v in levels]
        lower = np.full(len(levels), np.nan)
        upper = np.full(len(levels), np.nan)
    else:
        ref = ref_s.to_numpy(dtype=float)
        cur = cur_s.to_numpy(dtype=float)
        if np.isinf(ref).any() or np.isinf(cur).any():
            raise InputError("values must be finite or NaN (found inf)", field="reference")
        ref_ok = ref[~np.isnan(ref)]
        cur_ok = cur[~np.isnan(cur)]
        if ref_ok.size:
            # inverted_cdf: every edge is an observed reference value, so a feature with a
            # point mass (e.g. 90% zeros) does not get an interpolated edge inside a gap.
            # arange/bins, not linspace: linspace(0, 1, 11)[3] is 0.30000000000000004, which
            # makes inverted_cdf pick the next observed value on round-numbered data.
            qs = np.arange(1, bins) / bins
            inner = np.unique(np.quantile(ref_ok, qs, method="inverted_cdf"))
        else:
            inner = np.array([])
        # Right-closed bins (lower, upper]: a value equal to a decile stays in that decile.
        # Counted as #(x <= edge) per edge: a few vectorised compares instead of a
        # per-value binary search and bincount (7x faster at 1M rows, same counts).
        ref_counts = _right_closed_counts(ref_ok, inner)
        cur_counts = _right_closed_counts(cur_ok, inner)
        lower = np.r_[-np.inf, inner]
        upper = np.r_[inner, np.inf]
        labels = [f"({lo:.6g}, {hi:.6g}]" for lo, hi in zip(lower, upper, strict=True)]
        ref_missing = float(np.isnan(ref).sum())
        cur_missing = float(np.isnan(cur).sum())
        if ref_missing or cur_missing:
            ref_counts = np.r_[ref_counts, ref_missing]
            cur_counts = np.r_[cur_counts, cur_missing]
            lower = np.r_[lower, np.nan]
            upper = np.r_[upper, np.nan]
            labels.append("missing")

    ref_share = ref_counts / ref_counts.sum()
    cur_share = cur_counts / cur_counts.sum()
    ref_safe = np.where(ref_share > 0, ref_share, PSI_EPSILON)
    cur_safe = np.where(cur_share > 0, cur_share, PSI_EPSILON)
    contribution = (cur_safe - ref_safe) * np.log(cur_safe / ref_safe)
    return pd.DataFrame(
        {
            "bin": labels,
            "lower": lower,
            "upper": upper,
            "ref_count": ref_counts.astype(np.int64),
            "cur_count": cur_counts.astype(np.int64),
            "ref_share": ref_share,
            "cur_share": cur_share,
            "psi": contribution,
        }
    )


def psi(reference: ArrayLike, current: ArrayLike, bins: int = 10) -> float:
    """Population stability index Σ (cur − ref)·ln(cur / ref) on reference deciles.

    Computed here rather than with Evidently because Evidently bins differently and the
    bands (< 0.10 / 0.10–0.25 / ≥ 0.25) are defined for decile bins. See ``psi_by_bin``.
    """
    return float(psi_by_bin(reference, current, bins)["psi"].sum())


def psi_band(value: float) -> PsiBand:
    """Industry bands: < 0.10 stable, 0.10–0.25 watch, ≥ 0.25 act."""
    if not np.isfinite(value) or value < 0:
        raise InputError("PSI must be a finite, non-negative number", field="psi")
    if value < PSI_STABLE_BELOW:
        return "stable"
    if value < PSI_ACT_FROM:
        return "watch"
    return "act"
