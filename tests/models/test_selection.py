"""PD model selection inside the fit, its numpy bundle, the margin of conservatism, the OOT split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from creditdesk.errors import InputError
from models.bundle import PDScorer, save_pd_bundle
from models.conservatism import apply_moc, grade_add_ons, moc_record
from models.encoding import FrameEncoder
from models.master_scale import grade_of
from models.metrics import auc
from models.scorecard import WoEScorecard, linear_woe
from models.selection import CANDIDATES, Budget, SelectedPD
from tests.models.helpers import MONOTONE, credit_frame

FAST = {"n_estimators": 60, "early_stopping_rounds": 10}


@pytest.fixture(scope="module")
def fitted() -> tuple[SelectedPD, pd.DataFrame, np.ndarray]:
    X, y = credit_frame(2500, seed=1)
    model = SelectedPD(monotone=MONOTONE, categorical=["region"], trials=2, seconds=30, inner_folds=3,
                       lgb_params=FAST).fit(X, y)  # fmt: skip
    return model, X, y


def test_linear_woe_reproduces_the_scorecard_exactly() -> None:
    X, y = credit_frame(2000)
    card = WoEScorecard(categorical=["region"], monotone=MONOTONE).fit(X, y)
    encoder = FrameEncoder.fit(X, ["region"])
    table = linear_woe(card, encoder.feature_names, encoder.categories, encoder.transform(X))
    X_new, _ = credit_frame(700, seed=5)  # unseen rows, missing values included
    ours = 1 / (1 + np.exp(-table.logit(encoder.transform(X_new))))
    np.testing.assert_allclose(ours, card.predict_pd(X_new), atol=1e-12)
    contrib = table.contributions(encoder.transform(X))
    np.testing.assert_allclose(contrib.mean(axis=0), 0.0, atol=1e-9)  # centred on the training rows


def test_selection_keeps_the_best_inner_candidate(
    fitted: tuple[SelectedPD, pd.DataFrame, np.ndarray],
) -> None:
    model, X, y = fitted
    assert set(model.inner_auc_) == set(CANDIDATES)
    assert model.choice_ == max(model.inner_auc_, key=model.inner_auc_.get)
    ranked = model.lightgbm_.oof_raw_ if model.choice_ == "lightgbm" else model.oof_pd_
    assert model.inner_auc_[model.choice_] == pytest.approx(auc(y, ranked))
    summary = model.selection_summary()
    assert summary["selected"] == model.choice_ and summary["tuning"]["trials"] >= 1
    parts = model.candidate_pd(X)
    np.testing.assert_array_equal(model.predict_pd(X), parts[model.choice_])
    for p in parts.values():
        assert np.all((p > 0) & (p < 1))


@pytest.mark.parametrize("choice", CANDIDATES)
def test_bundle_scores_every_kind_like_the_estimator(
    fitted: tuple[SelectedPD, pd.DataFrame, np.ndarray], choice: str, tmp_path: Path
) -> None:
    model, X, _ = fitted
    model.choice_ = choice  # each kind must round-trip through the numpy bundle
    try:
        scorer = PDScorer.load(save_pd_bundle(model, tmp_path / choice))
    finally:
        model.choice_ = max(model.inner_auc_, key=model.inner_auc_.get)
    matrix = scorer.encoder.transform(X)
    np.testing.assert_allclose(scorer.pd_from_matrix(matrix), model.candidate_pd(X)[choice], rtol=1e-9)
    assert scorer.model == choice
    assert scorer.contributions(matrix[:7]).shape == (7, matrix.shape[1])


def test_budget_must_be_positive() -> None:
    with pytest.raises(InputError) as info:
        Budget(trials=0)
    assert info.value.field == "budget_trials"
    with pytest.raises(InputError) as info:
        Budget(seconds=-1)
    assert info.value.field == "budget_seconds"


def test_jeffreys_upper_bound_golden() -> None:
    # EBA/GL/2017/16 (PD estimation, margin of conservatism): add-on = one-sided 95 % upper bound of
    # the grade's default rate minus its mean PD. Jeffreys: Beta(D + 1/2, N - D + 1/2). For grade 5
    # (PD band [0.8 %, 1.6 %)) with 10 defaults in 400 rows at PD 1 %: the 95 % quantile of
    # Beta(10.5, 390.5) is 0.040489 (scipy.stats.beta.ppf), so the add-on is 0.030489.
    y = np.r_[np.ones(10), np.zeros(390)]
    add = grade_add_ons(y, np.full(400, 0.01))
    assert add[4] == pytest.approx(0.030489, abs=2e-6)
    assert np.all(add[:4] == 0)
    # later grades are raised only as far as keeps PD + add-on non-decreasing (slope >= -1)
    mids = np.array([0.0005 * 2**0.5 * 2**g for g in range(10)])
    np.testing.assert_allclose(add[5], add[4] - (mids[5] - mids[4]), rtol=1e-3)


def test_moc_keeps_pd_monotone_and_never_lowers_it() -> None:
    rng = np.random.default_rng(0)
    pd_ = np.exp(rng.uniform(np.log(0.0006), np.log(0.5), 20_000))
    y = (rng.uniform(size=pd_.size) < np.minimum(1.0, pd_ * 1.6)).astype(float)  # the model understates
    moc = moc_record(y, pd_, sample="out_of_time")
    assert max(moc["add_on_by_grade"]) > 0
    grid = np.sort(pd_)
    adjusted = apply_moc(grid, moc)
    assert np.all(adjusted >= grid) and np.all(np.diff(adjusted) >= 0)
    assert np.all(grade_of(adjusted) >= grade_of(grid))
    # regrading pools grades (more power): the steps repeat until every grade passes on its sample
    from models.validation import calibration_by_grade

    assert calibration_by_grade(y, apply_moc(pd_, moc))["jeffreys_pass"].all()


def test_dated_data_is_split_out_of_time_by_default() -> None:
    from pipelines.training import TrainingData, split_indices, split_name

    X, y = credit_frame(1000)
    dates = pd.Series(pd.date_range("2010-01-01", periods=1000, freq="D")).sample(frac=1, random_state=0)
    data = TrainingData(name="t", X=X, y=y, time=dates.reset_index(drop=True))  # no flag: the default
    tr, te = split_indices(data)
    assert data.time is not None
    assert data.time.iloc[tr].max() < data.time.iloc[te].min()
    assert 0.15 < te.size / 1000 < 0.25
    assert split_name(data, te) == "out_of_time"
    assert int(y[te].sum()) >= 10  # widened back until it holds enough defaults to validate
    data.out_of_time = False
    assert split_name(data, split_indices(data)[1]) == "stratified_random_80_20"


def test_blend_stack_never_weighs_a_candidate_against_its_risk_direction() -> None:
    """Two collinear risk scores (the LightGBM margin and the scorecard logit) give an
    unconstrained logistic stack a negative weight on one of them (German: a_lgb = -0.06),
    so the blend ranks that candidate's riskier applicants as safer: not monotone, and on
    margins wider than the out-of-fold ones it fitted (the final booster) it can invert.
    The stack is fitted with non-negative weights."""
    from models.selection import fit_stack

    rng = np.random.default_rng(7)
    z = rng.normal(size=4000)
    noise = rng.normal(size=4000)
    lgb_raw, woe_logit = z + 0.3 * noise, z  # the margin carries noise the scorecard lacks
    y = (rng.uniform(size=4000) < 1 / (1 + np.exp(-(-2.5 + 1.5 * z - 0.8 * noise)))).astype(float)
    stack = fit_stack(lgb_raw, woe_logit, y)
    assert stack.a_lgb >= 0.0 and stack.a_woe >= 0.0
    assert stack.a_woe > 0.0  # the informative score keeps its weight
    blend = stack.apply(lgb_raw, woe_logit)
    assert auc(y, blend) >= auc(y, woe_logit) - 0.01  # no worse than the better input alone


def test_moc_pools_sparse_grades_instead_of_bounding_one_row() -> None:
    # One applicant alone in grade 3 without a default: Jeffreys' 95 % bound for 0 of 1 is
    # 0.44, which as an add-on graded the whole 2,000-customer demo population 10 (all
    # declined). A grade with fewer than MOC_MIN_ROWS rows is pooled with its neighbours.
    from models.conservatism import MOC_MIN_ROWS

    y = np.r_[0.0, np.ones(4), np.zeros(396)]
    pd_ = np.r_[0.003, np.full(400, 0.01)]  # grade 3, then grade 5 (calibrated: 1 %)
    add = grade_add_ons(y, pd_)
    assert MOC_MIN_ROWS > 1
    assert add.max() < 0.02  # the pool's bound, not one row's
    moc = moc_record(y, pd_, sample="out_of_time")
    assert apply_moc(np.array([0.003]), moc)[0] < 0.03
