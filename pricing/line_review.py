"""Line review: a monthly decision per open line — cut, freeze, keep or raise — with reasons,
and the early-warning list for the credit committee.

Why a policy and not a model: the committee must be able to read and argue with every rule.
The inputs are the line's behavioural PD (the champion re-scoring the customer's ledger
history), the PD it was granted on, its use, recent margin calls and days past due. House
rules (``ReviewRules``; thresholds are configuration):

- FREEZE (limit := what is drawn, no new draws): past due (a shortfall in collection), or
  the behavioural PD at least ``freeze_pd_ratio`` × the PD at origination;
- CUT to max(drawn, ``cut_share`` × limit): PD at least ``cut_pd_ratio`` × origination, or a
  margin call in the last ``call_memory_days``;
- RAISE by ``raise_share`` (never past the tier's maximum line): at least ``raise_min_months``
  on book, use ≥ ``raise_min_use``, no call in the memory window, PD not above origination;
- KEEP otherwise.
Early warning: any line frozen or cut, or with PD up by ``warn_pd_ratio`` ×, or a call in the
last 30 days.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from creditdesk.errors import InputError

ACTIONS = ("keep", "cut", "freeze", "raise")


@dataclass(frozen=True)
class ReviewRules:
    freeze_pd_ratio: float = 4.0
    cut_pd_ratio: float = 2.0
    cut_share: float = 0.5
    call_memory_days: int = 90
    raise_share: float = 0.2
    raise_min_months: int = 6
    raise_min_use: float = 0.8
    warn_pd_ratio: float = 1.5
    warn_call_days: int = 30

    def __post_init__(self) -> None:
        if not 1 <= self.warn_pd_ratio <= self.cut_pd_ratio <= self.freeze_pd_ratio:
            raise InputError("review rules: 1 ≤ warn_pd_ratio ≤ cut_pd_ratio ≤ freeze_pd_ratio")
        if not 0 < self.cut_share < 1 or not 0 < self.raise_share <= 1 or not 0 < self.raise_min_use <= 1:
            raise InputError("review rules: cut_share in (0, 1), raise_share and raise_min_use in (0, 1]")


def review_lines(
    limit_minor: ArrayLike,
    drawn_minor: ArrayLike,
    max_line_minor: ArrayLike,
    pd_at_origination: ArrayLike,
    pd_now: ArrayLike,
    days_since_call: ArrayLike,
    days_past_due: ArrayLike,
    months_on_book: ArrayLike,
    rules: ReviewRules = ReviewRules(),
) -> pd.DataFrame:
    """Per line: ``action``, ``new_limit_minor``, ``reason``, ``early_warning`` (vectorised).

    ``days_since_call`` is a large number (e.g. 10**6) for a line never called."""
    limit = np.asarray(limit_minor, dtype=np.int64)
    drawn = np.minimum(np.asarray(drawn_minor, dtype=np.int64), limit)
    ratio = np.asarray(pd_now, dtype=np.float64) / np.maximum(
        np.asarray(pd_at_origination, dtype=np.float64), 1e-6
    )
    since_call = np.asarray(days_since_call, dtype=np.int64)
    dpd = np.asarray(days_past_due, dtype=np.int64)
    called = since_call <= rules.call_memory_days
    use = np.where(limit > 0, drawn / np.maximum(limit, 1), 0.0)
    freeze = (dpd > 0) | (ratio >= rules.freeze_pd_ratio)
    cut = ~freeze & ((ratio >= rules.cut_pd_ratio) | called)
    grow = (
        ~freeze
        & ~cut
        & (np.asarray(months_on_book) >= rules.raise_min_months)
        & (use >= rules.raise_min_use)
        & (ratio <= 1.0)
    )
    raised = np.minimum(
        (limit * (1 + rules.raise_share)).astype(np.int64), np.asarray(max_line_minor, dtype=np.int64)
    )
    grow &= raised > limit
    new_limit = np.select(
        [freeze, cut, grow],
        [drawn, np.maximum(drawn, (limit * rules.cut_share).astype(np.int64)), raised],
        limit,
    )
    action = np.select([freeze, cut, grow], ["freeze", "cut", "raise"], "keep")
    reason = np.select(
        [freeze & (dpd > 0), freeze, cut & called, cut, grow],
        [
            "past due: shortfall in collection",
            f"PD up ≥ {rules.freeze_pd_ratio:g}× since granted",
            f"margin call in the last {rules.call_memory_days} days",
            f"PD up ≥ {rules.cut_pd_ratio:g}× since granted",
            "good use of the line, PD not up",
        ],
        "no trigger",
    )
    warn = freeze | cut | (ratio >= rules.warn_pd_ratio) | (since_call <= rules.warn_call_days)
    return pd.DataFrame(
        {
            "action": action,
            "new_limit_minor": new_limit,
            "reason": reason,
            "early_warning": warn,
            "pd_ratio": ratio,
        }
    )


__all__ = ["ACTIONS", "ReviewRules", "review_lines"]
