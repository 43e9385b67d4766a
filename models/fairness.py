"""Fairness: which inputs are off limits, and adverse impact of the model's decisions by group.

Protected attributes are never model inputs: age and region (and, on other data, sex,
marital status, nationality and the like). A *near-proxy* is a feature that carries the
protected attribute almost as well as the attribute itself; we screen every numeric input by
its rank correlation with age and drop those at or above ``PROXY_MAX_ABS_SPEARMAN``, so age
cannot come back in through the side door. Knock-outs may still read age (a legal minimum
age is a rule, not a score); the PD may not.

Adverse impact ratio (AIR): a group's approval rate over the most-approved group's rate; a
ratio below 0.8 is the "four-fifths rule" flag (US EEOC Uniform Guidelines, 29 CFR
1607.4(D), used by fair-lending examiners as a screen). For prices, the ratio of the
cheapest group's mean rate to the group's mean rate, flagged below 0.8 the same way.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from creditdesk.errors import InputError

PROTECTED_ATTRIBUTES = (
    "age_years", "age", "region", "sex", "gender", "marital_status", "personal_status_sex", "nationality",
    "foreign_worker", "religion", "ethnicity", "race",
)  # fmt: skip
PROXY_MAX_ABS_SPEARMAN = 0.6
FOUR_FIFTHS = 0.8
AGE_BAND_EDGES = (25, 35, 45, 55, 65)
AGE_BAND_LABELS = ("18-24", "25-34", "35-44", "45-54", "55-64", "65+")


def age_band(age: ArrayLike) -> np.ndarray:
    ages = np.asarray(age, dtype=np.float64)
    idx = np.searchsorted(np.asarray(AGE_BAND_EDGES, dtype=np.float64), ages, side="right")
    return np.where(np.isnan(ages), "unknown", np.asarray(AGE_BAND_LABELS, dtype=object)[idx])


def near_proxies(
    X: pd.DataFrame, protected: pd.Series, threshold: float = PROXY_MAX_ABS_SPEARMAN
) -> dict[str, float]:
    """Numeric columns of ``X`` whose |Spearman ρ| with ``protected`` is at least ``threshold``."""
    target = pd.to_numeric(protected, errors="coerce").rank()
    found: dict[str, float] = {}
    for col in X.columns:
        if not pd.api.types.is_numeric_dtype(X[col]):
            continue
        rho = X[col].rank().corr(target)
        if pd.notna(rho) and abs(float(rho)) >= threshold:
            found[str(col)] = round(float(rho), 4)
    return found


def model_inputs(
    X: pd.DataFrame, protected: Mapping[str, pd.Series]
) -> tuple[list[str], dict[str, dict[str, float]]]:
    """The columns a model may use: no protected attribute, no near-proxy of a numeric one."""
    proxies: dict[str, dict[str, float]] = {}
    for name, values in protected.items():
        if pd.api.types.is_numeric_dtype(values):
            proxies[name] = near_proxies(
                X.drop(columns=[c for c in PROTECTED_ATTRIBUTES if c in X.columns]), values
            )
    dropped = {c for found in proxies.values() for c in found}
    keep = [str(c) for c in X.columns if c not in PROTECTED_ATTRIBUTES and c not in dropped]
    return keep, proxies


def adverse_impact(
    approved: ArrayLike, groups: ArrayLike, rate: ArrayLike | None = None
) -> list[dict[str, object]]:
    """Per group: n, approval rate, AIR of approval; with ``rate``, mean rate of the approved and
    its ratio (cheapest group's mean rate / this group's); ``flag`` when a ratio is below 0.8."""
    frame = pd.DataFrame(
        {"group": np.asarray(groups, dtype=object), "approved": np.asarray(approved, dtype=bool)}
    )
    if frame.empty:
        raise InputError("no rows to measure adverse impact on", field="fairness")
    if rate is not None:
        frame["rate"] = np.where(frame["approved"], np.asarray(rate, dtype=np.float64), np.nan)
    table = frame.groupby("group").agg(n=("approved", "size"), approval_rate=("approved", "mean"))
    table["air_approval"] = table["approval_rate"] / max(float(table["approval_rate"].max()), 1e-12)
    if rate is not None:
        table["mean_rate"] = frame.groupby("group")["rate"].mean()
        table["air_rate"] = float(table["mean_rate"].min()) / table["mean_rate"]
    ratios = table[[c for c in ("air_approval", "air_rate") if c in table.columns]]
    table["flag"] = (ratios < FOUR_FIFTHS).any(axis=1)
    return [{"group": str(g), **{k: (None if pd.isna(v) else v) for k, v in row.items()}}
            for g, row in table.reset_index().set_index("group").to_dict(orient="index").items()]  # fmt: skip
