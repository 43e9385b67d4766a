"""Portfolio view: book and per-grade totals computed by hand, and agreement with decide."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from creditdesk.errors import InputError
from pricing.decision import decide
from pricing.policy import load_policy
from pricing.portfolio import portfolio_summary
from tests.pricing.pricing_support import random_applicants

LEGACY_POLICY = Path(__file__).with_name("policy_2026_1.yaml")
POLICY = load_policy(LEGACY_POLICY)  # the 2026.1 (USD) policy the goldens were written for


def small_book() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "outcome": ["approve", "approve", "decline", "refer"],
            "grade": [1, 2, 9, 2],
            "credit_limit_minor": [2000, 4000, 0, 1000],
            "ead_minor": [1000.0, 2000.0, 0.0, 500.0],
            "expected_loss_minor": [10.0, 40.0, 0.0, 5.0],
            "economic_capital_minor": [50.0, 150.0, 0.0, 40.0],
            "expected_interest_minor": [80.0, 200.0, 0.0, 40.0],
            "expected_net_income_minor": [20.0, 30.0, 0.0, 7.0],
        }
    )


def test_book_and_grade_totals_by_hand() -> None:
    s = portfolio_summary(small_book())
    b = s.book
    assert (b["n_applicants"], b["n_approve"], b["n_refer"], b["n_decline"], b["n_book"]) == (4, 2, 1, 1, 2)
    assert b["approval_rate"] == 0.5
    assert b["ead_minor"] == 3000.0 and b["credit_limit_minor"] == 6000.0
    assert b["expected_loss_minor"] == 50.0 and b["economic_capital_minor"] == 200.0
    assert b["expected_interest_minor"] == 280.0 and b["expected_net_income_minor"] == 50.0
    assert b["raroc"] == 50.0 / 200.0  # sum of net / sum of EC, not the mean of RAROCs (0.3)
    assert b["el_rate"] == 50.0 / 3000.0 and b["mean_rate"] == 280.0 / 3000.0
    g = s.by_grade
    assert g.index.tolist() == [1, 2]
    assert g.loc[1, "raroc"] == 0.4 and g.loc[2, "raroc"] == 0.2
    assert g["n"].tolist() == [1, 1]
    d = s.to_dict()
    assert d["by_grade"][1]["grade"] == 2 and d["book"]["raroc"] == 0.25


def test_other_books_and_net_income_from_policy() -> None:
    frame = small_book()
    s = portfolio_summary(frame, outcomes=("approve", "refer"))
    assert s.book["n_book"] == 3 and s.book["expected_net_income_minor"] == 57.0
    without_net = frame.drop(columns=["expected_net_income_minor"])
    s = portfolio_summary(without_net, policy=POLICY)
    # net = interest - EL - (funding 4.5 % + opex 1 %) x EAD = 280 - 50 - 0.055 x 3000
    assert s.book["expected_net_income_minor"] == pytest.approx(280 - 50 - 0.055 * 3000, abs=1e-9)


def test_empty_book_gives_none_ratios() -> None:
    frame = small_book()
    frame["outcome"] = "decline"
    d = portfolio_summary(frame).to_dict()
    assert d["book"]["raroc"] is None and d["book"]["approval_rate"] == 0.0 and d["by_grade"] == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda f: f.drop(columns=["economic_capital_minor"]), "economic_capital_minor"),
        (lambda f: f.drop(columns=["expected_net_income_minor"]), "expected_net_income_minor"),
        (lambda f: f.assign(ead_minor=[1.0, np.nan, 0.0, 0.0]), "ead_minor"),
        (lambda f: f.assign(expected_loss_minor=[-1.0, 0.0, 0.0, 0.0]), "expected_loss_minor"),
        (lambda f: f.assign(outcome=["approve", "maybe", "decline", "refer"]), "outcome"),
    ],
)
def test_bad_frames_name_the_column(change, field: str) -> None:
    with pytest.raises(InputError) as err:
        portfolio_summary(change(small_book()))
    assert err.value.field == field


def test_summary_of_a_decided_batch_adds_up() -> None:
    inputs = random_applicants(2000, seed=5)
    batch = decide(inputs, POLICY)
    s = portfolio_summary(batch.to_frame())
    approved = batch.outcome == "approve"
    assert s.book["n_approve"] == int(approved.sum()) > 0
    assert s.book["economic_capital_minor"] == pytest.approx(batch.economic_capital_minor[approved].sum())
    assert s.by_grade["expected_loss_minor"].sum() == pytest.approx(s.book["expected_loss_minor"])
    # every approved loan earns the hurdle or more, so the book does too
    assert s.book["raroc"] >= POLICY.rates.hurdle_raroc - 1e-9
    assert set(s.by_grade.index) <= set(range(1, POLICY.grades.acceptable_max_grade + 1))
