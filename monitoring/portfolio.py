"""The portfolio section: what the book earns and risks, and how applicants were decided.

Two optional parts, each shown only when its data exists:
- from the current frame: the decision mix (approve / refer / decline) and, when the
  frame carries pricing columns, expected loss, economic capital, expected interest and
  RAROC by grade and for the book, computed by ``pricing.portfolio.portfolio_summary``
  (the pricing room's own aggregation: one definition of RAROC in the whole system);
- from the ledger and margin rooms (read only): margin calls, liquidations, shortfalls,
  VaR/ES of the book and the latest stress result, passed in by the report job as a
  ready mapping, because reading a database is I/O and belongs at the edge.

Each part returns a mapping ``{"figures": {...}, "tables": {...}, "notes": [...],
"lights": [...], "alerts": [...]}`` that the page renders generically.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

DECISION_COLUMNS: tuple[str, ...] = ("outcome", "decision")
DECISION_VALUES: tuple[str, ...] = ("approve", "refer", "decline")


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
    mix = decision_mix(current)
    if mix is not None:
        tables["Decisions"] = mix
        approved = mix.loc[mix["outcome"] == "approve", "share"]
        figures["approval rate"] = float(approved.iloc[0]) if len(approved) else 0.0
    pricing = pricing_summary(current)
    if pricing is not None:
        by_grade, book = pricing
        tables["Expected loss, capital and RAROC by grade"] = by_grade
        figures.update(book)
    elif mix is None:
        return None
    else:
        notes.append("No pricing columns in the current set: EL, capital and RAROC not reported.")
    return {"figures": figures, "tables": tables, "notes": notes, "lights": [], "alerts": []}


def pricing_summary(current: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, Any]] | None:
    """``pricing.portfolio.portfolio_summary`` on the rows it can price, or None.

    None when the pricing room's aggregation is not available or the frame lacks the
    columns it needs (it raises ``InputError`` naming them); the section then says so.
    """
    try:
        from pricing.portfolio import portfolio_summary
    except ImportError:
        return None
    from creditdesk.errors import InputError

    try:
        result = portfolio_summary(current)
    except (InputError, KeyError):
        return None
    return _split_summary(result)


def _split_summary(result: Any) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Accept the pricing summary as a frame (with a book row) or a (by_grade, book) pair."""
    if isinstance(result, tuple) and len(result) == 2:
        by_grade, book = result
        return pd.DataFrame(by_grade), dict(book) if isinstance(book, Mapping) else {"book": book}
    if isinstance(result, Mapping):
        by_grade = pd.DataFrame(result.get("by_grade", []))
        book = result.get("book", {})
        return by_grade, dict(book) if isinstance(book, Mapping) else {}
    frame = pd.DataFrame(result)
    return frame, {}
