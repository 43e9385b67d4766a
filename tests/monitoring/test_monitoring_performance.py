"""Performance once outcomes mature: cohort ranking, calibration by grade, LGD backtest."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from monitoring.contract import check_pair
from monitoring.performance import (
    auc_standard_error,
    calibration_by_grade,
    cohort_performance,
    cohort_period,
    lgd_backtest,
    ranking_light,
)
from monitoring.report import build_report, summary


def _tiny() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "x": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0],
            "pd_12m": [0.10, 0.40, 0.35, 0.80, 0.2, 0.3, 0.5],
            "default_12m": [False, False, True, True, False, False, None],
            "application_date": pd.to_datetime(
                [
                    "2024-01-03",
                    "2024-01-10",
                    "2024-01-20",
                    "2024-01-31",
                    "2024-02-01",
                    "2024-02-05",
                    "2024-02-07",
                ]
            ),
        }
    )


def test_cohort_ranking_by_hand() -> None:
    table = cohort_performance(_tiny(), "pd_12m", period="M")
    assert table["cohort"].tolist() == ["2024-01", "2024-02"]
    jan = table.iloc[0]
    # bads 0.35, 0.80 against goods 0.10, 0.40: 3 of 4 pairs ranked right
    assert jan["auc"] == pytest.approx(0.75)
    assert jan["gini"] == pytest.approx(0.5)
    # sorted: g .10, b .35, g .40, b .80 -> cumulative bad 0, ½, ½, 1; good ½, ½, 1, 1
    assert jan["ks"] == pytest.approx(0.5)
    assert (jan["n"], jan["defaults"]) == (4, 2)
    assert jan["mean_pd"] == pytest.approx(0.4125)
    assert jan["jeffreys_p"] == pytest.approx(stats.beta.cdf(0.4125, 2.5, 2.5))
    assert jan["auc_light"] == "grey"  # two defaults are too few to judge a ranking
    feb = table.iloc[1]
    # the row without an outcome has not matured and is left out; no bads -> no AUC
    assert (feb["n"], feb["defaults"]) == (2, 0)
    assert math.isnan(feb["auc"])
    assert feb["auc_light"] == "grey"


def test_cohorts_coarsen_when_months_are_thin() -> None:
    def dates(per_month: int, months: int) -> pd.Series:
        return pd.Series(pd.date_range("2020-01-01", periods=months, freq="MS").repeat(per_month))

    assert cohort_period(dates(150, 3)) == "M"
    assert cohort_period(dates(40, 12)) == "Q"  # 40 a month, 120 a quarter
    assert cohort_period(dates(20, 24)) == "Y"  # 60 a quarter is still too thin
    frame = pd.DataFrame(
        {"application_date": dates(20, 24), "pd_12m": 0.05, "default_12m": np.arange(480) % 20 == 0}
    )
    table = cohort_performance(frame, "pd_12m")
    assert table["cohort"].tolist() == ["2020", "2021"]
    assert table["n"].tolist() == [240, 240]
    assert table["defaults"].tolist() == [12, 12]


def test_hanley_mcneil_standard_error_by_hand() -> None:
    # A = 0.8, 50 bads, 450 goods: Q1 = 0.8/1.2, Q2 = 2·0.64/1.8
    q1, q2 = 0.8 / 1.2, 1.28 / 1.8
    variance = (0.8 * 0.2 + 49 * (q1 - 0.64) + 449 * (q2 - 0.64)) / (50 * 450)
    assert auc_standard_error(0.8, 50, 450) == pytest.approx(math.sqrt(variance))
    assert math.sqrt(variance) == pytest.approx(0.038526, abs=1e-6)


def test_ranking_light_needs_a_material_and_significant_drop() -> None:
    # 50 bads in 500: 2·SE ≈ 0.077, so a 0.05 drop is noise
    assert ranking_light(0.80, 50, reference_auc=0.85, n=500) == "green"
    # 500 bads in 5000: 2·SE ≈ 0.024
    assert ranking_light(0.80, 500, reference_auc=0.85, n=5000) == "amber"
    assert ranking_light(0.74, 500, reference_auc=0.85, n=5000) == "red"
    assert ranking_light(0.84, 500, reference_auc=0.85, n=5000) == "green"
    assert ranking_light(0.80, 19, reference_auc=0.85, n=5000) == "grey"
    # without a reference: absolute floors
    assert ranking_light(0.65, 100, reference_auc=None) == "amber"
    assert ranking_light(0.55, 100, reference_auc=None) == "red"
    assert ranking_light(0.75, 100, reference_auc=None) == "green"


def test_calibration_by_grade_by_hand() -> None:
    # grade 3: 5 of 100 defaulted at PD 0.05 (calibrated); grade 6: 30 of 100 at PD 0.10
    frame = pd.DataFrame(
        {
            "pd_12m": [0.05] * 100 + [0.10] * 100,
            "grade": [3] * 100 + [6] * 100,
            "default_12m": [True] * 5 + [False] * 95 + [True] * 30 + [False] * 70,
        }
    )
    table = calibration_by_grade(frame)
    assert table["grade"].tolist() == [3, 6]
    assert table["n"].tolist() == [100, 100]
    assert table["defaults"].tolist() == [5, 30]
    assert table["observed_rate"].tolist() == pytest.approx([0.05, 0.30])
    assert table["jeffreys_p"].tolist() == pytest.approx(
        [stats.beta.cdf(0.05, 5.5, 95.5), stats.beta.cdf(0.10, 30.5, 70.5)]
    )
    assert table["binomial_p"].iloc[1] == pytest.approx(stats.binom.sf(29, 100, 0.10))
    assert table["ci_low"].iloc[0] < 0.05 < table["ci_high"].iloc[0]
    assert table["light"].tolist() == ["green", "red"]


def test_calibration_grades_the_pd_when_no_grade_column() -> None:
    frame = pd.DataFrame({"pd_12m": [0.0015, 0.0015, 0.3, 0.3], "default_12m": [0, 0, 1, 0]})
    table = calibration_by_grade(frame)
    assert table["grade"].tolist() == [2, 10]  # master scale: 0.1–0.2% is grade 2, ≥ 25.6% grade 10


def test_lgd_backtest_by_hand() -> None:
    realised = [0.2] * 10 + [0.6] * 10  # grade 1: as priced; grade 2: 0.6 against 0.3
    frame = pd.DataFrame(
        {
            "grade": [1] * 10 + [2] * 10 + [2],
            "lgd": [0.2] * 10 + [0.3] * 10 + [0.3],
            "realised_lgd": [*realised, np.nan],  # a live loan: no realised LGD yet
        }
    )
    table = lgd_backtest(frame)
    assert table["grade"].tolist() == ["1", "2", "all"]
    assert table["defaults"].tolist() == [10, 10, 20]
    assert table["gap"].tolist() == pytest.approx([0.0, 0.3, 0.15])
    assert table["realised_lgd"].iloc[2] == pytest.approx(0.4)
    assert table["light"].tolist() == ["green", "red", "red"]


def test_report_without_outcomes_has_no_performance_alerts(population) -> None:
    reference = population(3000, seed=3)
    current = population(3000, seed=4).assign(default_12m=None, realised_lgd=np.nan)
    report = build_report(check_pair(reference, current))
    assert report.current_performance is None
    assert report.cohorts.empty and report.calibration.empty and report.lgd.empty
    assert report.section_lights["performance"] == "grey"
    data = summary(report)
    json.dumps(data, allow_nan=False)
    assert data["performance"]["current"] is None
    assert data["overall"] == "green"


def test_miscalibrated_current_set_raises_a_red_grade_alert(population) -> None:
    reference = population(4000, seed=5)
    current = population(4000, seed=6)
    # the model now understates risk: PDs reported at a quarter of the truth
    current = current.assign(pd_12m=current["pd_12m"] / 4)
    report = build_report(check_pair(reference, current))
    subjects = {(a.section, a.light) for a in report.alerts}
    assert ("performance", "red") in subjects
    assert report.calibration["light"].eq("red").any()
    assert report.cohorts["calibration_light"].eq("red").any()


def test_a_bare_risk_score_gets_ranking_but_no_calibration(population) -> None:
    def scored(seed: int) -> pd.DataFrame:
        frame = population(3000, seed=seed)
        return frame.assign(score=np.log(frame["pd_12m"]) * 50 + 600).drop(columns=["pd_12m", "grade"])

    report = build_report(check_pair(scored(31), scored(32)))
    assert report.score_column == "score"
    assert report.current_performance is not None and report.current_performance["auc"] > 0.6
    assert report.calibration.empty
    assert report.cohorts["mean_pd"].isna().all()
    assert report.cohorts["calibration_light"].eq("grey").all()
    json.dumps(summary(report), allow_nan=False)
