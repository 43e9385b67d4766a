"""LGD two-stage vs baselines, EAD/CCF by grade, reason-code ordering, the promotion gate."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from creditdesk.errors import InputError
from models.ead import CCFByGrade, exposure_at_default, realised_ccf
from models.lgd import FractionalLogitLGD, MeanLGD, TwoStageLGD, regression_metrics
from models.reasons import reason_code, reasons_for_rows, top_adverse
from models.validation import promotion_gate, validate_pd


def _loss_data(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    collateral = rng.uniform(0, 2, n)  # collateral cover: more cover, less loss
    concentration = rng.uniform(0, 1, n)
    p_loss = 1 / (1 + np.exp(-(1.5 - 2.0 * collateral + 1.0 * concentration)))
    severity = np.clip(0.2 + 0.6 * concentration + rng.normal(0, 0.1, n), 0.01, 1)
    lgd = np.where(rng.uniform(size=n) < p_loss, severity, 0.0)
    return pd.DataFrame({"collateral_cover": collateral, "concentration": concentration}), lgd


def test_two_stage_lgd_beats_the_mean_and_stays_in_bounds() -> None:
    X, y = _loss_data(3000, 0)
    X_new, y_new = _loss_data(2000, 1)
    two = TwoStageLGD(n_estimators=100, learning_rate=0.1).fit(X, y)
    pred = two.predict(X_new)
    assert pred.min() >= 0 and pred.max() <= 1
    base = regression_metrics(y_new, MeanLGD().fit(X, y).predict(X_new))
    frac = regression_metrics(y_new, FractionalLogitLGD().fit(X, y).predict(X_new))
    mine = regression_metrics(y_new, pred)
    assert base["r2"] == pytest.approx(0.0, abs=0.01)  # the mean has no skill by construction
    assert mine["rmse"] < base["rmse"] and mine["r2"] > 0.2
    assert frac["r2"] > 0.05  # the fractional logit learns the direction too


def test_regression_metrics_by_hand() -> None:
    out = regression_metrics([0.0, 1.0], [0.5, 0.5])
    assert out == {"mae": 0.5, "rmse": 0.5, "r2": 0.0}


def test_lgd_rejects_bad_targets() -> None:
    X, _ = _loss_data(10, 2)
    with pytest.raises(InputError):
        TwoStageLGD().fit(X, np.full(10, 1.5))
    with pytest.raises(InputError, match="positive loss"):
        TwoStageLGD().fit(X, np.zeros(10))


def test_ead_formula_by_hand() -> None:
    # drawn 40 of a 100 line, CCF 0.5: 40 + 0.5 * 60 = 70; an overdrawn line adds nothing
    assert exposure_at_default([40, 120], [100, 100], [0.5, 0.5]).tolist() == [70.0, 120.0]
    assert np.allclose(realised_ccf([40, 100], [100, 100], [70, 100]), [0.5, np.nan], equal_nan=True)
    with pytest.raises(InputError):
        exposure_at_default([1], [2], [1.5])


def test_ccf_by_grade_shrinks_thin_grades() -> None:
    grades = np.r_[np.full(100, 3), np.full(2, 9)]
    ccf = np.r_[np.full(100, 0.2), np.full(2, 1.0)]
    model = CCFByGrade(shrinkage=10).fit(grades, ccf)
    pooled = ccf.mean()
    assert model.predict([3])[0] == pytest.approx((100 * 0.2 + 10 * pooled) / 110)
    assert model.predict([9])[0] == pytest.approx((2 * 1.0 + 10 * pooled) / 12)
    assert model.predict([1])[0] == pytest.approx(pooled)  # unseen grade: the pooled mean


def test_reasons_largest_adverse_first_at_most_four() -> None:
    names = ["a", "b", "c", "d", "e", "f"]
    contrib = np.array(
        [
            [0.1, -0.5, 0.7, 0.3, 0.2, 0.05, -1.0],  # last column is the bias
            [-0.1, -0.2, -0.3, -0.4, -0.5, -0.6, 0.0],
            [0.0, 0.2, 0.0, 0.0, 0.0, 0.0, 0.0],
        ]
    )
    rows = reasons_for_rows(contrib, names, {"c": "text c"})
    assert [r["feature"] for r in rows[0]] == ["c", "d", "e", "a"]
    assert rows[0][0] == {"code": reason_code("c"), "feature": "c", "text": "text c", "contribution": 0.7}
    assert rows[0][1]["text"] == "d"  # no description: the name stands in
    assert rows[1] == []  # nothing adverse, no reasons
    assert [r["feature"] for r in rows[2]] == ["b"]
    assert top_adverse(contrib[:, :6], k=2).tolist() == [[2, 3], [-1, -1], [1, -1]]


def test_promotion_gate() -> None:
    ok = promotion_gate(
        challenger_auc=0.800, champion_auc=0.804, jeffreys_pass_share=0.9, monotonicity_ok=True
    )
    assert ok.passed and ok.reasons == []
    worse = promotion_gate(
        challenger_auc=0.790, champion_auc=0.800, jeffreys_pass_share=0.9, monotonicity_ok=True
    )
    assert not worse.passed and "AUC" in worse.reasons[0]
    first = promotion_gate(
        challenger_auc=0.6, champion_auc=None, jeffreys_pass_share=0.5, monotonicity_ok=False
    )
    assert not first.passed and len(first.reasons) == 2


def test_validate_pd_report_fields() -> None:
    rng = np.random.default_rng(0)
    p = rng.uniform(0.001, 0.3, 5000)
    y = (rng.uniform(size=p.size) < p).astype(int)
    report = validate_pd(y, p, pd_train=p[::-1], pd_challenger=p**2)
    for key in ("auc", "gini", "ks", "brier", "ece", "grades", "jeffreys_pass_share", "psi_train_test"):
        assert key in report
    assert report["auc_scorecard"] == pytest.approx(report["auc"])  # a monotone transform ranks the same
    assert report["jeffreys_pass_share"] >= 0.8  # PDs are the true probabilities here
    assert sum(g["n"] for g in report["grades"]) == 5000
