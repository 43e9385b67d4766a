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
    counts = decisions["outcome"].value_counts()
    assert set(counts.index) <= {"approve", "refer", "decline"}
    # A working chain approves some of a new population and declines some (knock-outs:
    # under-age, unverified identity, sanctions, the cn admission floor): an all-decline (or
    # all-approve) run fails here.
    assert counts.get("approve", 0) >= 1 and counts.get("decline", 0) >= 1, counts.to_dict()
    approved = decisions[decisions["outcome"] == "approve"]
    assert (approved["credit_limit_minor"] > 0).all()
    assert (decisions.loc[decisions["outcome"] == "decline", "credit_limit_minor"] == 0).all()
    assert "$ creditdesk decide --raw" in done.stdout  # every stage prints its equivalent command

    summary = json.loads((demo / "report" / "summary.json").read_text())
    # The report read these very decisions: its approval rate is theirs, and its overall
    # light is the worst of its alerts (green only when there is none).
    figures = summary["portfolio"]["figures"]
    assert figures["approval rate"] == pytest.approx(len(approved) / len(decisions))
    lights = {alert["light"] for alert in summary["alerts"]}
    worst = "red" if "red" in lights else "amber" if "amber" in lights else "green"
    assert summary["overall"] == worst
    assert (demo / "report" / "index.html").stat().st_size > 1000

    from mlflow import MlflowClient

    uri = f"sqlite:///{var / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    for name in ("creditdesk-pd", "creditdesk-lgd", "creditdesk-ead"):
        assert str(client.get_model_version_by_alias(name, "champion").version) == "1"
