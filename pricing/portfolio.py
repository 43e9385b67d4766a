"""Portfolio view of a decided batch: EL, EC, expected interest and RAROC, book and by grade.

Why sums are right: under the Basel IRB's asymptotic single-risk-factor model capital is
portfolio-invariant, so the book's EC is the sum of the loans' EC, and the book's RAROC is
Σ expected net income / Σ EC (not the mean of the loans' RAROCs, which would weight a
$1,000 line like a $1,000,000 one).

Input: a frame with one row per applicant, e.g. ``DecisionBatch.to_frame()``. Required
columns: ``grade``, ``ead_minor``, ``expected_loss_minor``, ``economic_capital_minor``,
``expected_interest_minor``; ``expected_net_income_minor`` or else a ``policy`` (to charge
funding and operating cost); optional ``outcome`` (only approved rows form the book by
default) and ``credit_limit_minor``. All amounts are minor units per year.

Public API: ``portfolio_summary(frame, policy=None, outcomes=("approve",)) -> PortfolioSummary``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from creditdesk.errors import InputError
from creditdesk.jsonsafe import json_safe
from pricing.decision import OUTCOMES
from pricing.policy import Policy

if TYPE_CHECKING:
    import pandas as pd

REQUIRED_COLUMNS = (
    "grade",
    "ead_minor",
    "expected_loss_minor",
    "economic_capital_minor",
    "expected_interest_minor",
)
MONEY_COLUMNS = (
    "credit_limit_minor",
    "ead_minor",
    "expected_loss_minor",
    "economic_capital_minor",
    "expected_interest_minor",
    "expected_net_income_minor",
)
"""The money a priced row carries (minor units per year): what a book sums, and what a
pipeline carries from pricing output into its own sets (one list, so they cannot drift)."""


@dataclass(frozen=True)
class PortfolioSummary:
    """``book``: totals of the whole book; ``by_grade``: the same per grade (index = grade).

    Ratios: ``raroc`` = net income / EC, ``el_rate`` = EL / EAD, ``mean_rate`` = interest /
    EAD (exposure-weighted); None / NaN where the denominator is 0.
    """

    book: dict[str, Any]
    by_grade: pd.DataFrame

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: NaN and inf become None, numpy numbers become Python numbers."""
        rows = [
            {"grade": int(grade), **json_safe(row)}
            for grade, row in self.by_grade.to_dict(orient="index").items()
        ]
        return {"book": json_safe(self.book), "by_grade": rows}


def _ratio(num: float, den: float) -> float:
    return num / den if den > 0 else math.nan


def _with_ratios(totals: dict[str, Any]) -> dict[str, Any]:
    totals["raroc"] = _ratio(totals["expected_net_income_minor"], totals["economic_capital_minor"])
    totals["el_rate"] = _ratio(totals["expected_loss_minor"], totals["ead_minor"])
    totals["mean_rate"] = _ratio(totals["expected_interest_minor"], totals["ead_minor"])
    return totals


def portfolio_summary(
    frame: pd.DataFrame, policy: Policy | None = None, outcomes: Sequence[str] = ("approve",)
) -> PortfolioSummary:
    """Totals of EL, EC, expected interest and net income, and RAROC, for the book and per grade.

    ``outcomes`` selects which decided rows form the book (default: approved only); counts
    of every outcome over all rows are reported too. Bad or missing columns raise
    InputError naming the column.
    """
    import pandas as pd

    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(f"portfolio: missing column(s) {', '.join(missing)}", field=missing[0])
    unknown = sorted(set(outcomes) - set(OUTCOMES))
    if unknown:
        raise InputError(f"portfolio: unknown outcome(s) {unknown}; use {list(OUTCOMES)}", field="outcomes")
    data = pd.DataFrame({c: frame[c] for c in REQUIRED_COLUMNS})
    for column in REQUIRED_COLUMNS[1:]:
        values = pd.to_numeric(data[column], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        if not (np.isfinite(values) & (values >= 0)).all():
            raise InputError(f"portfolio: column {column} must be finite and >= 0 (no NaN)", field=column)
        data[column] = values
    data["credit_limit_minor"] = frame["credit_limit_minor"] if "credit_limit_minor" in frame.columns else 0
    if "expected_net_income_minor" in frame.columns:
        net = pd.to_numeric(frame["expected_net_income_minor"], errors="coerce").to_numpy(np.float64)
        if not np.isfinite(net).all():
            raise InputError(
                "portfolio: column expected_net_income_minor must be finite",
                field="expected_net_income_minor",
            )
        data["expected_net_income_minor"] = net
    elif policy is not None:
        # Funding accrues on the expected drawn balance when the batch has it (issue 13),
        # opex and fees on EAD; older batches without it are charged on EAD.
        rates = policy.rates
        drawn_col = "expected_drawn_minor" if "expected_drawn_minor" in frame.columns else "ead_minor"
        drawn = pd.to_numeric(frame[drawn_col], errors="coerce").to_numpy(np.float64)
        data["expected_net_income_minor"] = (
            data["expected_interest_minor"]
            - data["expected_loss_minor"]
            - rates.funding_rate * drawn
            - (rates.opex_rate - rates.fee_rate) * data["ead_minor"]
        )
    else:
        raise InputError(
            "portfolio: need column expected_net_income_minor, or a policy to charge funding and opex",
            field="expected_net_income_minor",
        )

    counts: dict[str, Any] = {"n_applicants": len(frame)}
    if "outcome" in frame.columns:
        labels = frame["outcome"].astype("string")
        bad = sorted(set(labels.dropna().unique()) - set(OUTCOMES))
        if bad or labels.isna().any():
            raise InputError(
                f"portfolio: column outcome holds values other than {list(OUTCOMES)}", field="outcome"
            )
        for outcome in OUTCOMES:
            counts[f"n_{outcome}"] = int((labels == outcome).sum())
        data = data[labels.isin(list(outcomes)).to_numpy()]
    counts["n_book"] = len(data)
    counts["approval_rate"] = _ratio(counts.get("n_approve", len(data)), len(frame))

    book = _with_ratios({c: float(data[c].sum()) for c in MONEY_COLUMNS})
    grouped = data.groupby("grade", sort=True)[list(MONEY_COLUMNS)].sum()
    grouped.insert(0, "n", data.groupby("grade", sort=True).size())
    by_grade = grouped.astype({"n": np.int64})
    with np.errstate(divide="ignore", invalid="ignore"):
        ec, ead = by_grade["economic_capital_minor"], by_grade["ead_minor"]
        by_grade["raroc"] = np.where(ec > 0, by_grade["expected_net_income_minor"] / ec, np.nan)
        by_grade["el_rate"] = np.where(ead > 0, by_grade["expected_loss_minor"] / ead, np.nan)
        by_grade["mean_rate"] = np.where(ead > 0, by_grade["expected_interest_minor"] / ead, np.nan)
    by_grade.index = by_grade.index.astype(np.int64)
    return PortfolioSummary(book=counts | book, by_grade=by_grade)
