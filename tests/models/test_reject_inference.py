"""Reject inference on a small generated population, scored against the through-the-door truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from creditdesk.errors import InputError
from models.reject_inference import (
    METHODS,
    compare_methods,
    fit_method,
    inferred_set,
    legacy_decisions,
)
from pipelines.training import TrainingData, split_indices


@pytest.fixture(scope="module")
def population(tmp_path_factory: pytest.TempPathFactory) -> TrainingData:
    from pipelines.generate import generate_population
    from pipelines.training import from_features_dir

    raw = tmp_path_factory.mktemp("ri") / "raw"
    generate_population(4000, 5, raw)
    data = from_features_dir(raw)
    assert data.monitored is not None
    data.decision = legacy_decisions(data.monitored, 0.6, seed=0)
    return data


def test_the_legacy_policy_declines_the_riskier_applicants(population: TrainingData) -> None:
    approved = np.asarray(population.decision)
    assert approved.mean() == pytest.approx(0.6, abs=0.001)
    # the truncation a reject-inference method must undo: declined default more often
    assert population.y[~approved].mean() > 2 * population.y[approved].mean()
    with pytest.raises(InputError) as info:
        legacy_decisions(population.X.drop(columns=["bureau_score"]), 0.6)
    assert info.value.field == "bureau_score"
    with pytest.raises(InputError):
        legacy_decisions(population.X, 1.0)


def test_each_method_builds_its_training_rows(population: TrainingData) -> None:
    X, y = population.X, population.y.astype(float)
    approved = np.asarray(population.decision)
    base = fit_method("approved_only", X, y, approved, monotone=population.monotone)
    n_acc, n_rej = int(approved.sum()), int((~approved).sum())

    only = inferred_set("approved_only", X, y, approved, base)
    assert len(only.X) == n_acc and only.known.all()
    np.testing.assert_array_equal(only.target, y[approved])  # the real outcomes, nothing else

    aug = inferred_set("augmentation", X, y, approved, base)
    assert len(aug.X) == n_acc and aug.weight.sum() == pytest.approx(approved.size)
    assert aug.weight.max() > 1.5 * aug.weight.min()  # look-alikes of the declined count more

    parcel = inferred_set("parcelling", X, y, approved, base, reject_factor=2.0)
    assert len(parcel.X) == n_acc + n_rej and int((~parcel.known).sum()) == n_rej
    assert set(np.unique(parcel.target[~parcel.known])) <= {0.0, 1.0}
    # declined applicants never had their own outcome read
    assert parcel.target[~parcel.known].mean() > y[approved].mean()

    fuzzy = inferred_set("fuzzy", X, y, approved, base, reject_factor=2.0)
    soft = fuzzy.target[~fuzzy.known]
    np.testing.assert_allclose(soft, np.clip(2.0 * base.predict_pd(X[~approved]), 0, 1))
    with pytest.raises(InputError) as info:
        inferred_set("magic", X, y, approved, base)
    assert info.value.field == "reject_inference"


def test_methods_are_scored_on_every_applicant_against_approved_only(population: TrainingData) -> None:
    data = population
    tr, te = split_indices(data)  # out of time: the latest applications validate
    rows = compare_methods(data.X, data.y, np.asarray(data.decision), tr, te, monotone=data.monotone,
                           reject_factor=2.0)  # fmt: skip
    by = {r["method"]: r for r in rows}
    assert set(by) == {*METHODS, "through_the_door"}
    for row in rows:
        assert row["all_applicants"]["n"] == te.size
        assert row["approved_only"]["n"] == int(np.asarray(data.decision)[te].sum())
        assert 0.0 < row["all_applicants"]["auc"] < 1.0
    # the approved-only model learnt the approved population: it understates the applicants' PD
    only = by["approved_only"]["all_applicants"]
    assert only["mean_pd"] < only["observed_rate"]
    # inferring the declined as riskier (factor 2) moves the PD of the whole population up
    assert by["parcelling"]["all_applicants"]["mean_pd"] > only["mean_pd"]
    assert by["fuzzy"]["all_applicants"]["mean_pd"] > only["mean_pd"]


def test_train_with_reject_inference_reports_its_effect(tmp_path: Path) -> None:
    from pipelines.training import train
    from tests.models.test_registry import FAST_BUDGET, _data

    data = _data(3)
    util = np.nan_to_num(data.X["utilisation"].to_numpy(), nan=0.5)
    data.decision = util < np.quantile(util, 0.7)  # a past policy that declined high utilisation
    data.reject_inference, data.reject_factor = "parcelling", 2.0
    summary = train(
        data,
        register=False,
        out_dir=tmp_path / "m",
        budget=FAST_BUDGET,
        tracking_uri=f"sqlite:///{tmp_path / 'ml.db'}",
    )
    ri = summary["reject_inference"]
    assert summary["pd_model"] == "lightgbm_reject_inference_parcelling"
    assert ri["method"] == "parcelling" and ri["approval_rate_train"] == pytest.approx(0.7, abs=0.02)
    # scored on every test applicant, declined included, and against the approved-only model
    assert ri["all_applicants"]["n"] == summary["n_test"]
    assert ri["approved_only_model"]["all_applicants"]["n"] == summary["n_test"]
    assert ri["approved_applicants"]["n"] < summary["n_test"]
    assert summary["auc"] == pytest.approx(ri["all_applicants"]["auc"])
    report = (Path(summary["out_dir"]) / "validation_report" / "report.html").read_text()
    assert "Reject inference: <b>parcelling</b>" in report and "approved_only" in report


def test_reject_inference_without_a_decision_column_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.models.test_cli_models import run_inprocess

    raw = tmp_path / "raw"
    from pipelines.generate import generate_population

    generate_population(300, 2, raw)
    code, line = run_inprocess(["train", "--features", str(raw), "--reject-inference", "fuzzy",
                                "--no-register"], capsys)  # fmt: skip
    assert code == 2 and "'approved'" in line
    code, line = run_inprocess(["reject-inference", "--features", str(raw)], capsys)
    assert code == 2 and "'approved'" in line
    code, line = run_inprocess(["train", "--features", str(raw), "--reject-inference", "magic",
                                "--legacy-approval-rate", "0.5", "--no-register"], capsys)  # fmt: skip
    assert code == 2 and "reject-inference" in line
