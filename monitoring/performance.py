"""Model performance once outcomes mature: ranking by cohort, calibration by grade, LGD.

A row counts once its 12-month outcome is known (``default_12m`` not missing). Ranking
(AUC, Gini, KS) and calibration-in-the-large are computed per monthly application
cohort, because a model that still ranks on the whole book can fail on the newest
months first. Calibration per grade uses the Jeffreys test (Beta(D+½, N−D+½)) and the
exact binomial test from ``models.metrics``, pooled over the matured rows.

The lights are deliberately conservative about noise: a cohort with fewer than
``MIN_DEFAULTS_FOR_AUC`` defaults gets no ranking light (grey), since the AUC of ten
bads moves by ±0.1 by chance alone; and a fall in AUC (or a rise in LGD) lights up only
when it is both material (the thresholds below) and larger than two standard errors
(Hanley-McNeil for AUC, the standard error of the mean for LGD), so a committee is not
sent chasing sampling noise in small monthly cohorts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.master_scale import grade_of
from models.metrics import auc, binomial_test, jeffreys_test, ks_statistic

MIN_DEFAULTS_FOR_AUC = 20
AUC_DROP_AMBER = 0.05
AUC_DROP_RED = 0.10
AUC_FLOOR_AMBER = 0.70
AUC_FLOOR_RED = 0.60
"""Without a reference AUC, absolute floors: below 0.60 a PD model barely ranks."""

JEFFREYS_P_AMBER = 0.05
JEFFREYS_P_RED = 0.01
"""One-sided p-values: the ECB's IRB reporting uses 5% as the flag for a grade whose PD
understates its default rate; we go red at 1%, where chance is an unlikely excuse."""

MIN_DEFAULTS_FOR_LGD = 10
LGD_GAP_AMBER = 0.05
LGD_GAP_RED = 0.10
"""Mean realised LGD above mean predicted LGD by 5 / 10 percentage points."""


PERFORMANCE_COLUMNS = ("pd_12m", "score", "grade", "application_date", "lgd", "realised_lgd")


def matured(frame: pd.DataFrame, label: str = "default_12m") -> pd.DataFrame:
    """Rows whose outcome is known, with the label as 0/1 integers.

    Only the columns performance uses are kept: the feature columns of a million-row
    set would otherwise be copied by every filter.
    """
    keep = [c for c in PERFORMANCE_COLUMNS if c in frame.columns and c != label]
    if label not in frame.columns:
        return frame[keep].iloc[0:0]
    mask = frame[label].notna().to_numpy()
    known = frame.loc[mask, [*keep, label]]
    return known.assign(**{label: known[label].astype(bool).astype(np.int64)})


MIN_COHORT_ROWS = 100
"""Median matured rows a cohort period must reach before it is used: monthly cohorts of a
dozen applications only produce noise (and, over twenty years, hundreds of lights)."""
COHORT_PERIODS = ("M", "Q", "Y")


def cohort_of(dates: pd.Series, period: str = "M") -> pd.Series:
    """Calendar period of the application: ``2024-01`` (M), ``2024Q1`` (Q) or ``2024`` (Y)."""
    return pd.to_datetime(dates).dt.to_period(period).astype(str)


def cohort_period(dates: pd.Series, min_rows: int = MIN_COHORT_ROWS) -> str:
    """Months when the typical month has ``min_rows`` matured applications, else quarters, else years."""
    for period in COHORT_PERIODS[:-1]:
        if len(dates) and cohort_of(dates, period).value_counts().median() >= min_rows:
            return period
    return COHORT_PERIODS[-1]


def _ranking(y: np.ndarray, score: np.ndarray) -> tuple[float, float]:
    if y.size == 0 or y.min() == y.max():
        return float("nan"), float("nan")
    return auc(y, score), ks_statistic(y, score)


def auc_standard_error(auc_value: float, defaults: int, goods: int) -> float:
    """Hanley & McNeil (1982) standard error of an AUC estimated on ``defaults`` bads."""
    a = auc_value
    q1 = a / (2 - a)
    q2 = 2 * a * a / (1 + a)
    variance = (a * (1 - a) + (defaults - 1) * (q1 - a * a) + (goods - 1) * (q2 - a * a)) / (defaults * goods)
    return float(np.sqrt(max(variance, 0.0)))


def ranking_light(auc_value: float, defaults: int, reference_auc: float | None, n: int | None = None) -> str:
    """Green / amber / red for one AUC, grey when too few defaults to judge.

    Against a reference AUC: amber from a drop of 0.05, red from 0.10, each only when the
    drop exceeds two standard errors of the cohort's AUC (needs ``n``). Without one:
    absolute floors 0.70 (amber) and 0.60 (red).
    """
    if not np.isfinite(auc_value) or defaults < MIN_DEFAULTS_FOR_AUC:
        return "grey"
    if reference_auc is not None and np.isfinite(reference_auc):
        drop = round(reference_auc - auc_value, 12)  # 0.85 − 0.80 is a drop of 0.05, not 0.0499…
        noise = 2 * auc_standard_error(auc_value, defaults, n - defaults) if n is not None else 0.0
        if drop <= noise:
            return "green"
        return "red" if drop >= AUC_DROP_RED else "amber" if drop >= AUC_DROP_AMBER else "green"
    return "red" if auc_value < AUC_FLOOR_RED else "amber" if auc_value < AUC_FLOOR_AMBER else "green"


def jeffreys_light(p_value: float) -> str:
    if not np.isfinite(p_value):
        return "grey"
    return "red" if p_value < JEFFREYS_P_RED else "amber" if p_value < JEFFREYS_P_AMBER else "green"


def overall_ranking(frame: pd.DataFrame, score: str, label: str = "default_12m") -> dict[str, float]:
    """AUC, Gini, KS and counts of all matured rows (NaN when one class is absent)."""
    known = matured(frame, label)
    y = known[label].to_numpy() if len(known) else np.array([], dtype=np.int64)
    auc_value, ks_value = _ranking(y, known[score].to_numpy(dtype=float) if len(known) else y)
    return {
        "n": len(known),
        "defaults": int(y.sum()),
        "auc": auc_value,
        "gini": 2 * auc_value - 1,
        "ks": ks_value,
    }


def cohort_performance(
    frame: pd.DataFrame,
    score: str,
    reference_auc: float | None = None,
    label: str = "default_12m",
    date: str = "application_date",
    period: str | None = None,
) -> pd.DataFrame:
    """One row per application cohort of matured rows: monthly, or quarterly / yearly when
    months are too thin (``cohort_period``), or as given by ``period``.

    Columns: cohort, n, defaults, default_rate, mean_pd (NaN unless the score is a PD),
    auc, gini, ks, jeffreys_p (cohort calibration-in-the-large), auc_light, calibration_light.
    Without ``date`` the whole matured set is one cohort named ``all``.
    """
    known = matured(frame, label)
    if len(known) == 0:
        return pd.DataFrame(
            columns=[
                "cohort",
                "n",
                "defaults",
                "default_rate",
                "mean_pd",
                "auc",
                "gini",
                "ks",
                "jeffreys_p",
                "auc_light",
                "calibration_light",
            ]
        )
    if date in known.columns:
        cohorts = cohort_of(known[date], period or cohort_period(known[date]))
    else:
        cohorts = pd.Series("all", index=known.index)
    is_pd = score == "pd_12m"
    rows = []
    for name, part in known.groupby(cohorts, sort=True):
        y = part[label].to_numpy()
        s = part[score].to_numpy(dtype=float)
        auc_value, ks_value = _ranking(y, s)
        defaults = int(y.sum())
        mean_pd = float(s.mean()) if is_pd else float("nan")
        p_value = float(jeffreys_test(defaults, y.size, mean_pd)) if is_pd else float("nan")
        rows.append(
            {
                "cohort": str(name),
                "n": int(y.size),
                "defaults": defaults,
                "default_rate": defaults / y.size,
                "mean_pd": mean_pd,
                "auc": auc_value,
                "gini": 2 * auc_value - 1,
                "ks": ks_value,
                "jeffreys_p": p_value,
                "auc_light": ranking_light(auc_value, defaults, reference_auc, n=int(y.size)),
                "calibration_light": jeffreys_light(p_value),
            }
        )
    return pd.DataFrame(rows)


def calibration_by_grade(frame: pd.DataFrame, label: str = "default_12m") -> pd.DataFrame:
    """Observed default rate against mean PD per grade, with Jeffreys and binomial p-values.

    Uses the frame's ``grade`` column when present (the grade the decision used),
    otherwise grades the PD on the master scale. Columns: grade, n, defaults,
    observed_rate, mean_pd, jeffreys_p, binomial_p, ci_low, ci_high (the 90% Jeffreys
    interval of the observed rate), light.
    """
    from scipy import stats

    known = matured(frame, label)
    columns = ["grade", "n", "defaults", "observed_rate", "mean_pd", "jeffreys_p", "binomial_p"]
    if len(known) == 0 or "pd_12m" not in known.columns:
        return pd.DataFrame(columns=[*columns, "ci_low", "ci_high", "light"])
    grades = (
        known["grade"].astype(np.int64)
        if "grade" in known.columns
        else pd.Series(grade_of(known["pd_12m"].to_numpy(dtype=float)), index=known.index)
    )
    grouped = known.groupby(grades.rename("grade"), sort=True)
    table = pd.DataFrame(
        {
            "n": grouped[label].size(),
            "defaults": grouped[label].sum(),
            "mean_pd": grouped["pd_12m"].mean(),
        }
    ).reset_index()
    d = table["defaults"].to_numpy(dtype=float)
    n = table["n"].to_numpy(dtype=float)
    p = table["mean_pd"].to_numpy(dtype=float)
    table["observed_rate"] = d / n
    table["jeffreys_p"] = np.atleast_1d(jeffreys_test(d, n, p))
    table["binomial_p"] = np.atleast_1d(binomial_test(d, n, p))
    table["ci_low"] = stats.beta.ppf(0.05, d + 0.5, n - d + 0.5)
    table["ci_high"] = stats.beta.ppf(0.95, d + 0.5, n - d + 0.5)
    table["light"] = [jeffreys_light(v) for v in table["jeffreys_p"]]
    return table[[*columns, "ci_low", "ci_high", "light"]]


def lgd_backtest(frame: pd.DataFrame, lgd: str = "lgd", realised: str = "realised_lgd") -> pd.DataFrame:
    """Realised against predicted LGD on defaulted rows with a realised LGD, by grade and overall.

    Columns: grade (``all`` for the total row), defaults, predicted_lgd, realised_lgd,
    gap (realised − predicted, positive = losses worse than priced), light.
    """
    columns = ["grade", "defaults", "predicted_lgd", "realised_lgd", "gap", "light"]
    if lgd not in frame.columns or realised not in frame.columns:
        return pd.DataFrame(columns=columns)
    mask = (frame[realised].notna() & frame[lgd].notna()).to_numpy()
    done = frame.loc[mask, [c for c in (lgd, realised, "grade") if c in frame.columns]]
    if len(done) == 0:
        return pd.DataFrame(columns=columns)
    rows = []
    groups: list[tuple[str, pd.DataFrame]] = []
    if "grade" in done.columns:
        groups += [(str(g), part) for g, part in done.groupby(done["grade"].astype(np.int64), sort=True)]
    groups.append(("all", done))
    for name, part in groups:
        predicted = float(part[lgd].astype(float).mean())
        observed = float(part[realised].astype(float).mean())
        gap = observed - predicted
        noise = (
            2 * float(part[realised].astype(float).std(ddof=1)) / np.sqrt(len(part)) if len(part) > 1 else 0.0
        )
        light = (
            "grey"
            if len(part) < MIN_DEFAULTS_FOR_LGD
            else "green"
            if gap <= noise
            else "red"
            if gap >= LGD_GAP_RED
            else "amber"
            if gap >= LGD_GAP_AMBER
            else "green"
        )
        rows.append(
            {
                "grade": name,
                "defaults": len(part),
                "predicted_lgd": predicted,
                "realised_lgd": observed,
                "gap": gap,
                "light": light,
            }
        )
    return pd.DataFrame(rows, columns=columns)
