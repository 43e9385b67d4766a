"""The training run's reference: built to the contract, saved atomically, found through MLflow."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from creditdesk.errors import InputError
from monitoring.reference import REFERENCE_ARTIFACT, build_reference
from pipelines import reporting


def _features(n: int = 50) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"bureau_score": rng.normal(680, 50, n), "debt_to_income": rng.uniform(0, 1, n)})


def test_build_reference_grades_on_the_master_scale_and_checks_lengths() -> None:
    features = _features(4)
    frame = build_reference(features, [0.0007, 0.003, 0.05, 0.3], default_12m=[0, 0, 1, 1])
    assert frame["grade"].tolist() == [1, 3, 7, 10]
    assert frame["default_12m"].tolist() == [False, False, True, True]
    assert list(frame.columns[:2]) == ["bureau_score", "debt_to_income"]
    with pytest.raises(InputError, match="pd_12m has 3 values for 4"):
        build_reference(features, [0.1, 0.2, 0.3])
    with pytest.raises(InputError, match="probability"):
        build_reference(features, [0.1, 0.2, 0.3, 1.5])
    with pytest.raises(InputError, match="clash"):
        build_reference(features.assign(grade=1), [0.1, 0.2, 0.3, 0.4])


def test_save_reference_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    frame = build_reference(_features(), np.full(50, 0.02))
    path = reporting.save_reference(frame, tmp_path / "ref" / "reference.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(path), frame)

    def fail(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", fail)
    with pytest.raises(OSError, match="disk full"):
        reporting.save_reference(frame.assign(pd_12m=0.5), path)
    monkeypatch.undo()
    pd.testing.assert_frame_equal(pd.read_parquet(path), frame)  # the old file is intact
    assert [p.name for p in path.parent.iterdir()] == ["reference.parquet"]


@pytest.mark.slow
def test_reference_is_found_through_runs_and_model_aliases(tmp_path: Path) -> None:
    import mlflow
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    frame = build_reference(_features(), np.linspace(0.01, 0.2, 50))
    local = reporting.save_reference(frame, tmp_path / "reference.parquet")
    mlflow.set_tracking_uri(uri)
    experiment = mlflow.create_experiment("monitoring-test", artifact_location=(tmp_path / "art").as_uri())
    with mlflow.start_run(experiment_id=experiment) as run:
        mlflow.log_artifact(str(local), artifact_path=REFERENCE_ARTIFACT.rsplit("/", 1)[0])
    client = MlflowClient(tracking_uri=uri)
    client.create_registered_model("creditdesk-pd-test")
    version = client.create_model_version(
        "creditdesk-pd-test", source=f"runs:/{run.info.run_id}/model", run_id=run.info.run_id
    )
    client.set_registered_model_alias("creditdesk-pd-test", "champion", str(version.version))

    by_run = reporting.resolve_reference(f"runs:/{run.info.run_id}", tmp_path / "d1", tracking_uri=uri)
    by_alias = reporting.resolve_reference("models:/creditdesk-pd-test@champion", tmp_path / "d2", uri)
    for path in (by_run, by_alias):
        pd.testing.assert_frame_equal(pd.read_parquet(path), frame)
    with pytest.raises(InputError, match="no such model version"):
        reporting.resolve_reference("models:/creditdesk-pd-test@nobody", tmp_path / "d3", uri)
    with pytest.raises(InputError, match="use models:/NAME@ALIAS"):
        reporting.resolve_reference("models:/creditdesk-pd-test", tmp_path / "d4", uri)
    with pytest.raises(InputError, match="has no artifact"):
        reporting.resolve_reference(f"runs:/{run.info.run_id}/nothing.parquet", tmp_path / "d5", uri)
    assert reporting.resolve_reference("plain/file.parquet", tmp_path) == Path("plain/file.parquet")
