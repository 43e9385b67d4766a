"""The portfolio sections: what the book earns and risks, and what the margin desk sees.

Two optional sections, each shown only when its data exists:
- **Portfolio**, from the current frame: the decision mix (approve / refer / decline) and,
  when the frame carries the pricing columns of a decided batch, expected loss, economic
  capital, expected interest and RAROC by grade and for the book, computed by
  ``pricing.portfolio.portfolio_summary`` (one definition of RAROC in the whole system);
- **Book and margin**, from the ledger database's facilities and margin-call tables
  (read by the report job, which owns the I/O, and passed here as frames): open lines,
  calls issued, met, liquidated and still open, overdue calls and write-offs.

Each returns ``{"figures": {...}, "tables": {...}, "notes": [...], "lights": [...],
"alerts": [...]}`` or None, which the page renders generically.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

DECISION_COLUMNS: tuple[str, ...] = ("outcome", "decision")
DECISION_VALUES: tuple[str, ...] = ("approve", "refer", "decline")
PRICING_COLUMNS: tuple[str, ...] = (
    "grade",
    "ead_minor",
    "expected_loss_minor",
    "economic_capital_minor",
    "expected_interest_minor",
)


def decision_mix(frame: pd.DataFrame) -> pd.DataFrame | None:
    """Count and share of each decision outcome, or None when the frame has no outcomes."""
    column = next((c for c in DECISION_COLUMNS if c in frame.columns), None)
    if column is None or len(frame) == 0:
        return None
    counts = frame[column].astype(str).value_counts()
    levels = [v for v in DECISION_VALUES if v in counts.index] + sorted(
        v for v in counts.index if v not in DECISION_VALUES
    )
    counts = counts.reindex(levels)
    return pd.DataFrame(
        {"outcome": levels, "count": counts.to_numpy(), "share": (counts / counts.sum()).to_numpy()}
    )


def portfolio_section(current: pd.DataFrame) -> dict[str, Any] | None:
    """Decision mix and pricing aggregates of the current set; None when it has neither."""
    tables: dict[str, pd.DataFrame] = {}
    figures: dict[str, Any] = {}
    notes: list[str] = []
    alerts: list[dict[str, Any]] = []
    lights: list[str] = []
    mix = decision_mix(current)
    if mix is not None:
        tables["Decisions"] = mix
        approved = mix.loc[mix["outcome"] == "approve", "share"]
        figures["approval rate"] = float(approved.iloc[0]) if len(approved) else 0.0
    priced = pricing_summary(current)
    if priced is None and mix is None:
        return None
    if priced is None:
        notes.append("No pricing columns in the current set: EL, capital and RAROC not reported.")
    else:
        by_grade, book, hurdle = priced
        tables["Expected loss, capital and RAROC by grade (approved book)"] = by_grade
        figures.update(book)
        raroc = book.get("book RAROC")
        if hurdle is not None and raroc is not None and np.isfinite(raroc):
            figures["hurdle RAROC"] = hurdle
            below = raroc < hurdle
            lights.append("amber" if below else "green")
            if below:
                alerts.append(
                    {
                        "subject": "book RAROC",
                        "light": "amber",
                        "message": f"book RAROC {raroc:.1%} below the policy hurdle {hurdle:.1%}",
                    }
                )
    return {"figures": figures, "tables": tables, "notes": notes, "lights": lights, "alerts": alerts}


def pricing_summary(current: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, Any], float | None] | None:
    """Book figures and per-grade table from ``pricing.portfolio.portfolio_summary``.

    None when the frame lacks the pricing columns. Without ``expected_net_income_minor``
    the packaged default policy charges funding and operating cost (and gives the hurdle).
    """
    if any(c not in current.columns for c in PRICING_COLUMNS):
        return None
    from pricing.policy import load_policy
    from pricing.portfolio import portfolio_summary

    policy = load_policy()
    result = portfolio_summary(current, policy=policy)
    book = result.book
    figures = {
        "applicants": book.get("n_applicants"),
        "approved (book)": book.get("n_book"),
        "credit limits (minor units)": book.get("credit_limit_minor"),
        "EAD (minor units)": book.get("ead_minor"),
        "expected loss (minor units)": book.get("expected_loss_minor"),
        "economic capital (minor units)": book.get("economic_capital_minor"),
        "expected interest (minor units)": book.get("expected_interest_minor"),
        "expected net income (minor units)": book.get("expected_net_income_minor"),
        "EL rate": book.get("el_rate"),
        "mean rate": book.get("mean_rate"),
        "book RAROC": book.get("raroc"),
    }
    by_grade = result.by_grade.reset_index().rename(columns={"index": "grade"})
    return by_grade, figures, float(policy.rates.hurdle_raroc)


def book_section(facilities: pd.DataFrame, calls: pd.DataFrame, now_ns: int) -> dict[str, Any] | None:
    """Margin-desk figures from the facilities and margin-call tables; None when both are empty.

    An open call past its deadline is red: the contract says liquidate by then, so an open
    one means the desk has not acted. Written-off facilities are amber: realised losses
    the committee should see by name and count.
    """
    if len(facilities) == 0 and len(calls) == 0:
        return None
    figures: dict[str, Any] = {}
    alerts: list[dict[str, Any]] = []
    lights: list[str] = []
    status = facilities["status"].astype(str) if len(facilities) else pd.Series([], dtype=str)
    figures["facilities"] = len(facilities)
    for name in ("open", "closed", "written_off"):
        figures[f"facilities {name.replace('_', ' ')}"] = int((status == name).sum())
    is_open = (status == "open").to_numpy()
    figures["open lines (minor units)"] = (
        int(facilities.loc[is_open, "line_minor"].sum()) if len(facilities) else 0
    )
    call_status = calls["status"].astype(str) if len(calls) else pd.Series([], dtype=str)
    figures["margin calls issued"] = len(calls)
    for name in ("open", "met", "liquidated"):
        figures[f"margin calls {name}"] = int((call_status == name).sum())
    open_calls = calls[(call_status == "open").to_numpy()] if len(calls) else calls
    figures["open calls: required top-up (minor units)"] = (
        int(open_calls["required_minor"].sum()) if len(open_calls) else 0
    )
    overdue = int((open_calls["deadline_ns"] < now_ns).sum()) if len(open_calls) else 0
    figures["open calls past deadline"] = overdue
    lights.append("red" if overdue else "green")
    if overdue:
        alerts.append(
            {
                "subject": "margin calls",
                "light": "red",
                "message": f"{overdue} open margin call(s) past their deadline and not liquidated",
            }
        )
    written_off = figures["facilities written off"]
    if written_off:
        lights.append("amber")
        alerts.append(
            {
                "subject": "write-offs",
                "light": "amber",
                "message": f"{written_off} facilit{'y' if written_off == 1 else 'ies'} written off",
            }
        )
    notes = [
        "VaR/ES of the book and the latest stress result are not stored in the ledger database "
        "in this build, so they are not shown here."
    ]
    return {"figures": figures, "tables": {}, "notes": notes, "lights": lights, "alerts": alerts}
