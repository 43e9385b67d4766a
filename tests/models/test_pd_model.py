"""PD estimator: sklearn contract, monotonicity, calibration, numpy-only online path."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from creditdesk.errors import InputError
from models import metrics
from models.calibration import Calibration, choose_calibration
from models.pd_model import LightGBMPD
from models.validation import calibration_by_grade, monotonicity_check
from tests.models.helpers import MONOTONE, credit_frame

Fitted = tuple[LightGBMPD, pd.DataFrame, np.ndarray]


@pytest.fixture(scope="module")
def fitted() -> Fitted:
    X, y = credit_frame(3000, seed=1)
    model = LightGBMPD(monotone=MONOTONE, n_estimators=300, learning_rate=0.1, early_stopping_rounds=30)
    return model.fit(X, y), X, y


def test_estimator_contract(fitted: Fitted) -> None:
    model, X, _ = fitted
    assert clone(model).get_params()["monotone"] == MONOTONE
    assert list(model.feature_names_in_) == list(X.columns)
    proba = model.predict_proba(X.head(50))
    assert proba.shape == (50, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert 0 < model.best_iteration_ <= 300
    assert model.monotone_constraints_ == [1, -1, 1, 0, 0]


def test_ranks_and_is_calibrated_on_fresh_data(fitted: Fitted) -> None:
    model, _, _ = fitted
    X_new, y_new = credit_frame(4000, seed=2)
    p = model.predict_pd(X_new)
    assert metrics.auc(y_new, p) > 0.70
    assert abs(p.mean() - y_new.mean()) < 0.03
    table = calibration_by_grade(y_new, p)
    assert table["jeffreys_pass"].mean() >= 0.6


def test_monotone_constraints_hold_over_a_grid(fitted: Fitted) -> None:
    model, X, _ = fitted
    report = monotonicity_check(model.predict_pd, X, MONOTONE, grid_points=12, sample_rows=100)
    assert set(report) == set(MONOTONE)
    assert all(item["ok"] for item in report.values()), report


def test_monotonicity_check_catches_a_violation(fitted: Fitted) -> None:
    model, X, _ = fitted
    # claim the opposite direction for utilisation: the checker must flag it
    report = monotonicity_check(model.predict_pd, X, {"utilisation": -1}, grid_points=12, sample_rows=50)
    assert not report["utilisation"]["ok"] and report["utilisation"]["violations"] > 0


def test_numpy_row_path_matches_frame_path(fitted: Fitted) -> None:
    model, X, _ = fitted
    rows = model.encoder_.transform(X.head(20))
    raw = model.booster_.predict(rows, raw_score=True)
    np.testing.assert_allclose(model.calibration_.apply(raw), model.predict_pd(X.head(20)))
    # unseen category and missing values go down LightGBM's missing branch, not an error
    odd = X.head(2).copy()
    odd["region"] = odd["region"].cat.add_categories(["west"])
    odd.loc[odd.index[0], "region"] = "west"
    assert np.isfinite(model.predict_pd(odd)).all()


def test_contributions_sum_to_raw_margin(fitted: Fitted) -> None:
    model, X, _ = fitted
    contrib = model.contributions(X.head(30))
    assert contrib.shape == (30, X.shape[1] + 1)
    np.testing.assert_allclose(contrib.sum(axis=1), model.decision_function(X.head(30)), atol=1e-8)


def test_cv_mode_and_forced_calibration() -> None:
    X, y = credit_frame(1500, seed=3)
    model = LightGBMPD(
        validation="cv", cv_folds=3, calibration="isotonic", n_estimators=100, learning_rate=0.1
    ).fit(X, y)
    assert model.calibration_.method == "isotonic"
    assert metrics.auc(y, model.predict_pd(X)) > 0.7


def test_bad_targets_and_monotone_names() -> None:
    X, y = credit_frame(200, seed=4)
    with pytest.raises(InputError, match="one class"):
        LightGBMPD().fit(X, np.zeros(len(X)))
    with pytest.raises(InputError, match="0 \\(good\\) or 1"):
        LightGBMPD().fit(X, np.full(len(X), 2))
    with pytest.raises(InputError, match="unknown feature"):
        LightGBMPD(monotone={"nope": 1}).fit(X, y)


def test_platt_recovers_known_sigmoid() -> None:
    rng = np.random.default_rng(5)
    raw = rng.normal(0, 2, 20000)
    true = 1 / (1 + np.exp(-(0.5 * raw - 2.0)))
    y = (rng.uniform(size=raw.size) < true).astype(float)
    cal, _ = choose_calibration(raw, y, "platt")
    assert cal.platt_a == pytest.approx(0.5, abs=0.05)
    assert cal.platt_b == pytest.approx(-2.0, abs=0.1)
    # round trip through plain numbers
    again = Calibration.from_dict(cal.to_dict())
    np.testing.assert_allclose(again.apply(raw[:10]), cal.apply(raw[:10]))


def test_auto_calibration_prefers_isotonic_on_a_step() -> None:
    rng = np.random.default_rng(6)
    raw = rng.uniform(-3, 3, 20000)
    y = (rng.uniform(size=raw.size) < np.where(raw > 0, 0.4, 0.02)).astype(float)  # a step, not a sigmoid
    cal, losses = choose_calibration(raw, y, "auto")
    assert cal.method == "isotonic" and losses["isotonic"] < losses["platt"]
    iso = cal.apply(np.array([-2.0, 2.0]))
    assert iso[0] == pytest.approx(0.02, abs=0.01) and iso[1] == pytest.approx(0.4, abs=0.03)
