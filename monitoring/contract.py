"""The reference/current data contract the risk-committee report relies on.

A training run saves its *reference*: the feature columns the champion was trained on,
plus its score (``pd_12m``, or ``score`` for a model that only ranks), its ``grade`` and,
when known, outcomes. Monitoring later compares a *current* frame of the same shape with
it. Everything the report computes assumes that both frames describe the same columns
with the same meaning, so that is checked here once, before any number is produced:
same columns, same logical type per column, a non-empty current set, a score in both.
Only outcomes (``OUTCOME_COLUMNS``) may be missing from the current set or all-missing
in it: the newest applications have not had twelve months to default.

Which columns are features: every column that is not a known identifier, score, grade,
outcome, date or pricing output (``NON_FEATURE_COLUMNS``, plus names ending in ``_id``
or ``_date``). A caller that knows better passes ``features=`` explicitly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from creditdesk.errors import InputError

SCORE_COLUMNS: tuple[str, ...] = ("pd_12m", "score")
"""The model output to monitor, in order of preference. A ``score`` must rise with risk,
as a PD does (negate scorecard points that rise with creditworthiness); calibration
needs ``pd_12m`` and is left out for a bare score."""

LABEL_COLUMN = "default_12m"
DATE_COLUMN = "application_date"
GRADE_COLUMN = "grade"
LGD_COLUMN = "lgd"
REALISED_LGD_COLUMN = "realised_lgd"

OUTCOME_COLUMNS: frozenset[str] = frozenset(
    {
        LABEL_COLUMN,
        REALISED_LGD_COLUMN,
        "default_cause",
        "loss_minor",
        "recovery_minor",
        "exposure_at_default_minor",
        "margin_calls_12m",
        "liquidated",
        "observation_end_date",
    }
)
"""Outcomes: known for a matured reference, often not yet for the current set, so the
current set may lack them or hold them all-missing; every other column must match."""

NON_FEATURE_COLUMNS: frozenset[str] = frozenset(
    {
        *SCORE_COLUMNS,
        *OUTCOME_COLUMNS,
        GRADE_COLUMN,
        DATE_COLUMN,
        LGD_COLUMN,
        # decision and pricing outputs
        "outcome",
        "decision",
        "ead",
        "ead_minor",
        "drawn_minor",
        "expected_drawn_minor",
        "regime",
        "currency",
        "expected_loss",
        "expected_loss_minor",
        "economic_capital",
        "economic_capital_minor",
        "capital_k",
        "correlation",
        "ccf",
        "haircut_addon",
        "required_rate",
        "reason_mask",
        "reason_codes",
        "reasons",
        "outcome_code",
        "expected_net_income_minor",
        "policy_hash",
        "catalogue_version",
        "annual_rate",
        "expected_interest",
        "expected_interest_minor",
        "raroc",
        "credit_limit",
        "credit_limit_minor",
        "max_leverage",
        "tier",
        "policy_version",
        "model_version",
        "timestamp",
    }
)

LogicalType = Literal["numeric", "boolean", "categorical", "datetime"]

MAX_FEATURES = 2_000
"""A bound on the report's width: past this the page is unreadable and the job a mistake."""


def logical_type(dtype: object) -> LogicalType:
    """The type that matters for drift: int and float are both ``numeric``.

    An integer feature read back as float (one missing value is enough) is the same
    feature; a number that became a string is not, and its PSI would be meaningless.
    """
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    if pd.api.types.is_numeric_dtype(dtype):
        return "numeric"
    return "categorical"


@dataclass(frozen=True)
class MonitoringPair:
    """A checked reference/current pair and what the report may compute on it."""

    reference: pd.DataFrame
    current: pd.DataFrame
    features: tuple[str, ...]
    feature_types: dict[str, LogicalType]
    score_column: str

    @property
    def score_is_pd(self) -> bool:
        return self.score_column == "pd_12m"

    def has_column(self, name: str) -> bool:
        return name in self.reference.columns and name in self.current.columns


def score_column_of(frame: pd.DataFrame) -> str | None:
    return next((c for c in SCORE_COLUMNS if c in frame.columns), None)


def feature_columns(frame: pd.DataFrame) -> tuple[str, ...]:
    """Columns treated as model inputs, in the frame's order."""
    return tuple(
        str(c)
        for c in frame.columns
        if str(c) not in NON_FEATURE_COLUMNS and not str(c).endswith(("_id", "_date"))
    )


def check_pair(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    features: Sequence[str] | None = None,
) -> MonitoringPair:
    """Refuse a pair the report could only misreport on; return what to monitor.

    Raises ``InputError`` naming the column and the rule: different column sets, a
    column whose logical type differs, an empty current set, no score in the reference,
    a score that is not a finite number (or not a probability, for ``pd_12m``).
    """
    if len(reference) == 0:
        raise InputError("the reference set has no rows", field="reference")
    if len(current) == 0:
        raise InputError("the current set has no rows: nothing to compare", field="current")
    score = score_column_of(reference)
    if score is None:
        raise InputError(
            f"the reference has no score column (need one of {', '.join(SCORE_COLUMNS)}); "
            "a reference must carry the scores the model gave",
            field="reference",
        )
    ref_cols = [str(c) for c in reference.columns]
    cur_cols = [str(c) for c in current.columns]
    missing = [c for c in ref_cols if c not in set(cur_cols) and c not in OUTCOME_COLUMNS]
    # Keys, dates, decision and pricing outputs may exist only in the current set (the
    # reference is a training hold-out, never decided); an extra feature is a contract break.
    extra = [c for c in cur_cols if c not in set(ref_cols) and c in feature_columns(current)]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing from current: {', '.join(missing[:10])}")
        if extra:
            parts.append(f"not in reference: {', '.join(extra[:10])}")
        raise InputError(
            "reference and current must have the same columns (" + "; ".join(parts) + ")", field="current"
        )
    mismatched = [
        f"{c} ({logical_type(reference[c].dtype)} in reference, {logical_type(current[c].dtype)} in current)"
        for c in ref_cols
        if c in current.columns
        and logical_type(reference[c].dtype) != logical_type(current[c].dtype)
        and not (c in OUTCOME_COLUMNS and (reference[c].isna().all() or current[c].isna().all()))
    ]
    if mismatched:
        raise InputError(
            "reference and current must have the same column types: " + "; ".join(mismatched[:5]),
            field="current",
        )
    for name, frame in (("reference", reference), ("current", current)):
        _check_score(frame[score], score, name)

    chosen = tuple(features) if features is not None else feature_columns(reference)
    unknown = [f for f in chosen if f not in set(ref_cols)]
    if unknown:
        raise InputError(f"feature columns not in the data: {', '.join(unknown[:10])}", field="features")
    if not chosen:
        raise InputError("the reference has no feature columns to monitor", field="reference")
    if len(chosen) > MAX_FEATURES:
        raise InputError(f"at most {MAX_FEATURES} feature columns (got {len(chosen)})", field="features")
    types = {f: logical_type(reference[f].dtype) for f in chosen}
    return MonitoringPair(
        reference=reference,
        current=current,
        features=chosen,
        feature_types=types,
        score_column=score,
    )


def _check_score(values: pd.Series, column: str, which: str) -> None:
    if not pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype):
        raise InputError(f"{which}: score column {column} must be numeric", field=column)
    arr = values.to_numpy(dtype=float)
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{which}: score column {column} has missing or infinite values", field=column)
    if column == "pd_12m" and np.any((arr < 0) | (arr > 1)):
        raise InputError(f"{which}: {column} must be a probability in [0, 1]", field=column)
