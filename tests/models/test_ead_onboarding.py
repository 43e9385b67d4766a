"""EAD at onboarding (issue 13): the CCF is measured from the application date, when nothing
is drawn, so EAD of a new line = CCF × limit and Σ predicted EAD matches Σ realised EAD.

Convention (DESIGN.md, "Defaults, exposure and pricing conventions"; PRA SS11/13 §17.2 "Limit
Factor estimation", EAD as a percentage of the total limit; §14.3 EAD includes interest
accrued to date, so the factor may exceed 1 on a fully drawn line): label = EAD / limit.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from creditdesk.errors import InputError
from models.ead import MAX_CCF, CCFByGrade, onboarding_ccf, recency_weights, select_half_life
from pipelines.build_features import build_labels


def test_onboarding_ccf_is_ead_over_limit_including_accrued_interest() -> None:
    # a line of 100 with EAD 93 -> 0.93; a fully drawn line with a year's interest -> 1.08
    out = onboarding_ccf([93.0, 108.0, 50.0], [100.0, 100.0, 0.0])
    assert out[:2].tolist() == [0.93, 1.08]
    assert np.isnan(out[2])  # no line, no factor
    assert MAX_CCF >= 1.08


def test_labels_measure_the_ccf_from_the_application_date() -> None:
    # drawn 200,000 of 400,000 at open, EAD 300,000: the old label (EAD − drawn)/(limit − drawn)
    # was 0.5, but the decision multiplies the CCF by the whole limit: 0.5 × 400,000 = 200,000,
    # a third short of the 300,000 realised. From the application date it is 300/400 = 0.75.
    outcomes = pd.DataFrame(
        {
            "application_id": [1, 2],
            "customer_id": [1, 2],
            "default_12m": [True, False],
            "default_cause": ["margin_shortfall", "none"],
            "observation_end_date": pd.to_datetime(["2021-01-04", "2021-01-04"]),
            "credit_limit_minor": [400_000, 400_000],
            "drawn_at_open_minor": [200_000, 100_000],
            "exposure_at_default_minor": [300_000, 0],
            "loss_minor": [60_000, 0],
            "margin_calls_12m": [1, 0],
            "liquidated": [True, False],
        }
    )
    apps = pd.DataFrame({"application_id": [1, 2], "application_date": pd.to_datetime(["2020-01-02"] * 2)})
    labels = build_labels(outcomes, apps)
    assert labels.loc[0, "ccf"] == pytest.approx(0.75)
    assert labels.loc[0, "ccf"] * labels.loc[0, "credit_limit_minor"] == labels.loc[0, "ead_minor"]
    assert np.isnan(labels.loc[1, "ccf"])


def test_limit_weighted_ccf_sums_to_the_realised_ead() -> None:
    # Large lines draw more than small ones: a plain mean of EAD / limit under-predicts
    # Σ EAD; weighting by the limit makes Σ CCF_grade × limit = Σ EAD in each grade.
    rng = np.random.default_rng(0)
    n = 4000
    grades = rng.integers(1, 11, n)
    limit = rng.lognormal(12, 1.0, n)
    share = np.clip(0.5 + 0.15 * (np.log(limit) - 12) + rng.normal(0, 0.1, n), 0, 1.08)
    ead = share * limit
    plain = CCFByGrade(shrinkage=0).fit(grades, ead / limit)
    weighted = CCFByGrade(shrinkage=0).fit(grades, ead / limit, sample_weight=limit)
    assert np.sum(plain.predict(grades) * limit) / ead.sum() < 0.9
    assert np.sum(weighted.predict(grades) * limit) / ead.sum() == pytest.approx(1.0, abs=1e-12)


def test_weighted_shrinkage_reduces_to_the_unweighted_one_with_unit_weights() -> None:
    grades = np.r_[np.full(100, 3), np.full(2, 9)]
    ccf = np.r_[np.full(100, 0.2), np.full(2, 1.0)]
    a = CCFByGrade(shrinkage=10).fit(grades, ccf)
    b = CCFByGrade(shrinkage=10).fit(grades, ccf, sample_weight=np.ones(102))
    assert np.allclose(a.ccf_by_grade_, b.ccf_by_grade_)


def test_ccf_above_the_accrual_bound_or_bad_weights_is_refused() -> None:
    with pytest.raises(InputError, match="ccf"):
        CCFByGrade().fit([1, 2], [0.5, MAX_CCF + 0.01])
    with pytest.raises(InputError, match="sample_weight"):
        CCFByGrade().fit([1, 2], [0.5, 0.6], sample_weight=[1.0, -1.0])


def test_recency_weight_halves_every_half_life() -> None:
    w = recency_weights([0.0, 730.5, 1461.0], 1461.0, 2.0)  # 4, 2 and 0 years old
    assert w.tolist() == pytest.approx([0.25, 0.5, 1.0])
    assert recency_weights([0.0, 1461.0], 1461.0, None).tolist() == [1.0, 1.0]


def test_no_decay_when_the_past_predicts_as_well_as_the_recent() -> None:
    # nothing drifts: every half-life backtests equally well and the plain mean is kept
    rng = np.random.default_rng(1)
    n = 600
    half_life, scores = select_half_life(
        rng.integers(5, 11, n), np.full(n, 0.85), rng.lognormal(12, 0.5, n), np.sort(rng.uniform(0, 4000, n))
    )
    assert half_life is None
    assert set(scores) == {"None", "5.0", "3.0", "2.0", "1.0"}


def _drifting_defaults(n: int = 3000) -> tuple[object, np.ndarray, np.ndarray, np.ndarray]:
    """Defaults applied 2004-2020 whose draw-down steps from 0.70 to 0.90 of the line in 2013
    (a change in behaviour the flat long-run mean follows only slowly)."""
    from pipelines.training import TrainingData

    rng = np.random.default_rng(7)
    dates = pd.to_datetime("2004-01-01") + pd.to_timedelta(
        np.sort(rng.uniform(0, 16.3 * 365.25, n)), unit="D"
    )
    ccf = np.clip(np.where(dates.year >= 2013, 0.90, 0.70) + rng.normal(0, 0.08, n), 0, MAX_CCF)
    limit = rng.lognormal(12, 0.6, n)
    data = TrainingData(
        name="drift",
        X=pd.DataFrame({"x": np.zeros(n)}),
        y=np.ones(n, dtype=int),
        time=pd.Series(dates),
        ccf=ccf,
        limit=limit,
        ead=ccf * limit,
    )
    te = np.flatnonzero(dates >= pd.Timestamp("2017-01-01"))
    tr = np.flatnonzero(dates < pd.Timestamp("2017-01-01"))
    return data, tr, te, rng.choice([0.01, 0.03, 0.08], n)


def test_out_of_time_ccf_weights_recent_cohorts_by_a_backtested_half_life() -> None:
    # CRR Art. 182(3) (retail EAD: more recent data may weigh more where they predict
    # draw-downs better); Delegated Regulation (EU) 2022/439 Art. 45(c) (justified by better
    # prediction): the half-life is picked on the training defaults, the hold-out is unseen.
    from pipelines.training import _ead_report

    data, tr, te, pd_all = _drifting_defaults()
    report = _ead_report(data, tr, te, pd_all[tr], pd_all[te])  # type: ignore[arg-type]
    flat = CCFByGrade().fit(np.full(tr.size, 7), data.ccf[tr], sample_weight=data.limit[tr])  # type: ignore[attr-defined]
    flat_ratio = flat.pooled_ccf_ * data.limit[te].sum() / data.ead[te].sum()  # type: ignore[attr-defined]
    assert flat_ratio < 0.9  # the equal-weight mean of 2004-2016 under-predicts 2017-2020
    assert report["ccf_half_life_years"] is not None
    assert (
        report["ccf_half_life_backtest"][str(report["ccf_half_life_years"])]
        < report["ccf_half_life_backtest"]["None"]
    )
    assert report["ead_sum_ratio"] == pytest.approx(1.0, abs=0.05)


@pytest.mark.slow
@pytest.mark.parametrize("split", ["out_of_time", "stratified_random_80_20"])
def test_train_reports_ead_sum_ratio_within_five_percent(
    split: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Done-when of issue 13: on a generated population, Σ predicted EAD (CCF × limit, as the
    # decision computes it for a new line) / Σ realised EAD of the hold-out's defaults is
    # within ±5 % (measured from the draw at open it was ~0.69), on train's default split for
    # dated data (the latest 20 % out of time; the CCF's recency half-life is backtested on
    # the training defaults only) and on a random 80/20 hold-out.
    # The population is the one `creditdesk generate -n 20000 --seed 1` writes: real S&P 500
    # prices. generate_population without prices_path simulates them instead, a different
    # population (4.0 % defaults, 101 out of time, against 2.7 % and 110), whose figures
    # (0.963 out of time, AUC 0.797) were once quoted as the CLI's (0.738 AUC).
    # A fixed trial budget (no time cap) keeps the figure independent of the machine's load.
    from dataclasses import replace

    from creditdesk.settings import get_settings
    from models.selection import Budget
    from pipelines.generate import generate_population
    from pipelines.training import from_features_dir, train

    prices = get_settings().sp500_prices_path
    if not prices.is_file():
        pytest.skip(f"S&P 500 prices not at {prices} (the CLI's population needs them)")
    monkeypatch.setenv("CREDITDESK_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    get_settings.cache_clear()
    manifest = generate_population(20_000, 1, tmp_path / "raw", prices_path=prices)
    assert manifest["price_source"] == "sp500"
    data = replace(from_features_dir(tmp_path / "raw"), challenger=False)
    if split != "out_of_time":
        data = replace(data, time=None)
    budget = Budget(trials=10, seconds=1e9)
    summary = train(data, register=False, out_dir=tmp_path / "models", budget=budget)
    get_settings.cache_clear()
    assert summary["split"] == split
    assert summary["ead_sum_ratio"] == pytest.approx(1.0, abs=0.05)
    assert "ead_ccf_half_life_years" in summary  # None (no decay) unless the backtest prefers one


def test_a_raw_folder_and_its_features_job_output_train_on_the_same_data(tmp_path: Path) -> None:
    # `train --features RAW` builds features and labels itself; `creditdesk features` then
    # `train --features FEAT` reads them: both must give one TrainingData (rows, default flag,
    # inputs, the application dates the out-of-time split cuts, CCF / limit / EAD), so a
    # figure measured on either path holds for the other.
    from pipelines.build_features import run as build
    from pipelines.generate import generate_population
    from pipelines.training import from_features_dir

    generate_population(300, 2, tmp_path / "raw")
    build(tmp_path / "raw", tmp_path / "feat")
    raw, feat = from_features_dir(tmp_path / "raw"), from_features_dir(tmp_path / "feat")
    assert 0 < raw.y.sum() < raw.y.size
    pd.testing.assert_frame_equal(raw.X.reset_index(drop=True), feat.X.reset_index(drop=True))
    pd.testing.assert_frame_equal(raw.monitored.reset_index(drop=True), feat.monitored.reset_index(drop=True))
    np.testing.assert_array_equal(raw.y, feat.y)
    assert raw.time is not None and feat.time is not None
    np.testing.assert_array_equal(pd.to_datetime(raw.time).to_numpy(), pd.to_datetime(feat.time).to_numpy())
    for name in ("ccf", "limit", "ead", "lgd"):
        np.testing.assert_allclose(getattr(raw, name), getattr(feat, name), equal_nan=True, err_msg=name)
