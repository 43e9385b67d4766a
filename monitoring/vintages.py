"""Vintage curves: cumulative default rate by months on book, per origination cohort.

Why: a portfolio's default rate mixes young lines (few defaults yet) with old ones; only a
cohort-by-age view says whether new business is worse than old at the same age, and shows a
stress episode as a jump across every cohort at the same calendar month. A cohort's cell is
left empty (NaN) for ages the cohort has not reached by the observation day, so a young
cohort never looks good merely because it is young.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def months_between(start: pd.Series, end: pd.Series) -> pd.Series:
    """Whole months from ``start`` to ``end`` (a default in the opening month is month 0)."""
    s, e = pd.to_datetime(start), pd.to_datetime(end)
    return (e.dt.year - s.dt.year) * 12 + (e.dt.month - s.dt.month) - (e.dt.day < s.dt.day).astype(int)


def vintage_curves(labels: pd.DataFrame, as_of: pd.Timestamp, max_months: int = 24) -> pd.DataFrame:
    """Rows = cohort (``YYYY-MM`` of ``opened_day``), columns = months on book 1..max_months,
    values = share of the cohort defaulted within that many months (NaN where not yet observed).

    ``labels`` needs ``opened_day`` and ``default_day`` (NaT when no default), as
    ``margin.outcomes.labels_from_books`` returns them.
    """
    if labels.empty:
        return pd.DataFrame(columns=list(range(1, max_months + 1)), dtype=float)
    opened = pd.to_datetime(labels["opened_day"])
    cohort = opened.dt.strftime("%Y-%m")
    age_now = months_between(opened, pd.Series(pd.Timestamp(as_of), index=labels.index))
    default_month = months_between(opened, pd.to_datetime(labels["default_day"]))  # NaN if none
    rows = {}
    for name, idx in cohort.groupby(cohort).groups.items():
        observed = int(age_now.loc[idx].min())
        months = np.arange(1, max_months + 1)
        dm = default_month.loc[idx].to_numpy(dtype=float)
        rate = np.array([(dm < m).mean() for m in months])  # defaulted within m months on book
        rows[name] = np.where(months <= observed, rate, np.nan)
    return pd.DataFrame.from_dict(rows, orient="index", columns=list(range(1, max_months + 1))).sort_index()


def vintages_json(curves: pd.DataFrame) -> dict[str, list[float]]:
    """Per cohort, the observed cumulative default rates by months on book (JSON-safe)."""
    return {str(c): [round(float(v), 6) for v in row if np.isfinite(v)] for c, row in curves.iterrows()}


__all__ = ["months_between", "vintage_curves", "vintages_json"]
