"""Account anomaly detection: behaviour vectors, planted accounts found, leverage cut, analyst clears."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from creditdesk.errors import InputError
from margin.anomaly import AnomalyModel, ReviewQueue, behaviour_vectors, flag_day, score_book, turnover_cusum
from margin.anomaly_synthetic import daily_activity, plant_anomalies, precision_recall
from margin.controls_policy import RiskControlsPolicy

POLICY = RiskControlsPolicy().anomaly


def one_account(**last_day: float) -> pd.DataFrame:
    days = 10
    frame = pd.DataFrame(
        {
            "account": 0,
            "day": np.arange(days),
            "turnover_minor": 1000.0,
            "top_share": 0.3,
            "deposit_minor": 0.0,
            "withdrawal_minor": 0.0,
            "equity_minor": 10_000.0,
            "leverage_use": 0.4,
            "odd_hours_value_minor": 0.0,
            "round_trips": 0,
        }
    )
    for key, value in last_day.items():
        frame.loc[days - 1, key] = value
    return frame


def test_vectors_measure_each_day_against_the_accounts_own_history() -> None:
    v = behaviour_vectors(one_account(turnover_minor=8000.0, top_share=0.9, leverage_use=0.7)).iloc[-1]
    assert v.turnover_jump == pytest.approx(np.log(8001 / 1001))
    assert v.concentration_jump == pytest.approx(0.6)
    assert v.leverage_jump == pytest.approx(0.3)
    quiet = behaviour_vectors(one_account(turnover_minor=10.0)).iloc[-1]
    assert quiet.turnover_jump == 0.0  # a quiet day is not what this screen is for


def test_withdrawal_right_after_a_deposit_is_a_signal() -> None:
    frame = one_account(withdrawal_minor=5000.0)
    frame.loc[8, "deposit_minor"] = 6000.0
    assert behaviour_vectors(frame).iloc[-1].deposit_withdrawal == pytest.approx(0.5)
    with pytest.raises(InputError, match="lacks columns"):
        behaviour_vectors(frame.drop(columns="round_trips"))


@pytest.mark.slow
def test_planted_accounts_are_found_with_useful_precision_and_recall() -> None:
    activity, truth, _ = plant_anomalies(daily_activity(3000, 30, seed=4), share=0.03, seed=5)
    result, _ = score_book(activity, POLICY, seed=0)
    pr = precision_recall(pd.Series(result.flagged.to_numpy(), index=result.account), truth)
    assert pr["planted"] == 90
    assert pr["recall"] >= 0.6 and pr["precision"] >= 0.5, pr


def test_flagged_account_gets_a_leverage_cut_until_an_analyst_clears_it() -> None:
    activity, _, _ = plant_anomalies(daily_activity(400, 25, seed=1), share=0.02, seed=2)
    vectors = behaviour_vectors(activity)
    last = vectors.day.max()
    model = AnomalyModel(POLICY, seed=0).fit(vectors[vectors.day < last])
    today = vectors[vectors.day == last].reset_index(drop=True)
    queue = ReviewQueue()
    out = flag_day(model, today, np.zeros(len(today), dtype=bool), queue)
    flagged = out.account[out.flagged].to_numpy()
    assert len(flagged) and set(flagged) == set(queue.open)
    first = int(flagged[0])
    assert queue.open[first]["reasons"]  # plain-language signals
    mult = queue.leverage_multiplier(np.array([first, -1]), POLICY)
    assert mult.tolist() == [POLICY.leverage_multiplier, 1.0]
    queue.clear(first, analyst="ana", day=last, note="known market maker")
    assert queue.leverage_multiplier(np.array([first]), POLICY).tolist() == [1.0]
    assert queue.cleared[0]["cleared_by"] == "ana"
    with pytest.raises(InputError, match="not in the review queue"):
        queue.clear(first, analyst="ana", day=last)


def test_turnover_cusum_alarms_on_a_sustained_rise() -> None:
    frame = pd.concat([one_account(), one_account().assign(account=1)])
    frame["turnover_minor"] = frame["turnover_minor"] * np.exp(
        np.random.default_rng(0).normal(0, 0.1, len(frame))
    )
    frame.loc[(frame.account == 1) & (frame.day >= 7), "turnover_minor"] = 3000.0
    alarm = turnover_cusum(frame, POLICY)
    assert alarm[1].any() and not alarm[0].any()
