"""Line review golden cases: each rule of the house policy (pricing/line_review.py) once."""

from __future__ import annotations

import pytest

from creditdesk.errors import InputError
from pricing.line_review import ReviewRules, review_lines

NEVER = 10**6


def test_each_rule_once() -> None:
    # lines: past due; PD 5x; PD 2.5x; called 20 days ago; well used and PD down; quiet
    out = review_lines(
        limit_minor=[1_000, 1_000, 1_000, 1_000, 1_000, 1_000],
        drawn_minor=[700, 300, 300, 100, 900, 200],
        max_line_minor=[5_000, 5_000, 5_000, 5_000, 1_100, 5_000],
        pd_at_origination=[0.01] * 6,
        pd_now=[0.01, 0.05, 0.025, 0.01, 0.008, 0.012],
        days_since_call=[NEVER, NEVER, NEVER, 20, NEVER, NEVER],
        days_past_due=[12, 0, 0, 0, 0, 0],
        months_on_book=[8] * 6,
    )
    assert out["action"].tolist() == ["freeze", "freeze", "cut", "cut", "raise", "keep"]
    # freeze = the drawn amount; cut = max(drawn, half the limit); raise 20 %, capped by the tier at 1,100
    assert out["new_limit_minor"].tolist() == [700, 300, 500, 500, 1_100, 1_000]
    assert out["reason"].tolist() == [
        "past due: shortfall in collection",
        "PD up ≥ 4× since granted",
        "PD up ≥ 2× since granted",
        "margin call in the last 90 days",
        "good use of the line, PD not up",
        "no trigger",
    ]
    assert out["early_warning"].tolist() == [True, True, True, True, False, False]


def test_no_raise_for_a_young_or_little_used_line_and_warning_on_a_recent_rise() -> None:
    out = review_lines(
        [1_000, 1_000],
        [900, 100],
        [5_000, 5_000],
        [0.01, 0.01],
        [0.009, 0.016],
        [NEVER, NEVER],
        [0, 0],
        [3, 12],
    )
    assert out["action"].tolist() == ["keep", "keep"]
    assert out["early_warning"].tolist() == [False, True]  # PD up 1.6x: on the committee's list


def test_rules_must_be_ordered() -> None:
    with pytest.raises(InputError):
        ReviewRules(cut_pd_ratio=5.0, freeze_pd_ratio=4.0)
