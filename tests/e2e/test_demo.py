"""`creditdesk demo --no-serve` end to end, as a user runs it, in a private var/."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import REPO_ROOT, SHARED_DIR


@pytest.mark.slow
@pytest.mark.e2e
def test_demo_trains_promotes_decides_and_reports(tmp_path: Path) -> None:
    var = tmp_path / "var"
    env = {
        **os.environ,
        "CREDITDESK_VAR_DIR": str(var),
        "CREDITDESK_SHARED_DIR": str(SHARED_DIR),
        "PYTHONPATH": str(REPO_ROOT),
    }
    for leaked in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):  # set by earlier in-process tests
        env.pop(leaked, None)
    env.pop("CREDITDESK_DB_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "demo", "--customers", "2000", "--no-serve"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "demo finished" in done.stdout
    demo = var / "demo"
    decisions = pd.read_parquet(demo / "decisions.parquet")
    assert len(decisions) == 1000
    assert set(decisions["outcome"]) <= {"approve", "refer", "decline"}
    assert (decisions.loc[decisions["outcome"] == "approve", "credit_limit_minor"] > 0).all()
    summary = json.loads((demo / "report" / "summary.json").read_text())
    assert summary["overall"] in {"green", "amber", "red"}
    assert (demo / "report" / "index.html").stat().st_size > 1000

    from mlflow import MlflowClient

    uri = f"sqlite:///{var / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    for name in ("creditdesk-pd", "creditdesk-lgd", "creditdesk-ead"):
        assert str(client.get_model_version_by_alias(name, "champion").version) == "1"
