"""The models CLI as a user drives it: bad input exits 2 with one line; --json ends stdout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import REPO_ROOT


def run(args: list[str], var_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CREDITDESK_VAR_DIR": str(var_dir)}
    return subprocess.run(
        [sys.executable, "-m", "pipelines.cli", *args],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def run_inprocess(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """``pipelines.cli.main`` in this process (fast); returns exit code and the one error line."""
    from pipelines.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(args)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("creditdesk: error:")]
    assert len(lines) == 1, err
    return int(exit_info.value.code or 0), lines[0]


@pytest.fixture
def small_csv(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    n = 600
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-(-1.2 + 1.3 * x1 - 0.7 * x2)))).astype(int)
    grp = rng.choice(["a", "b"], n)
    frame = pd.DataFrame(
        {"row_id": range(n), "x1": x1, "x2": x2, "grp": grp, "status": np.where(y, "bad", "ok")}
    )
    path = tmp_path / "loans.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("target: status\nbad_values: [bad]\ndrop: [row_id, nope]\ncategorical: [grp]\n", "nope"),
        ("target: status\ndrop: [row_id]\ncategorical: [grp]\n", "bad_values"),
        ("target: status\nbad_values: [never]\ndrop: [row_id]\ncategorical: [grp]\n", "one class"),
    ],
)
def test_benchmark_bad_spec_exits_2(
    var_dir: Path, small_csv: Path, spec: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    spec_path = var_dir / "spec.yaml"
    spec_path.write_text(spec)
    code, line = run_inprocess(["benchmark", "--csv", str(small_csv), "--spec", str(spec_path)], capsys)
    assert code == 2
    assert message in line


def test_bad_invocations_exit_2(var_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    spec = tmp_path / "spec.yaml"
    spec.write_text("target: y\n")
    cases = [
        (["promote"], "no creditdesk-pd@challenger"),
        (["train"], "exactly one"),
        (["benchmark", "--dataset", "mnist"], "--dataset must be one of"),
        (["benchmark", "--csv", str(empty), "--spec", str(spec)], "empty"),
        (["benchmark", "--csv", str(empty)], "--spec"),
        (["train", "--features", str(tmp_path / "missing")], "no such folder"),
        (["promote", "--force"], "--reason"),
        (["score", "--input", str(empty), "--output", str(tmp_path / "out.csv")], ".parquet"),
    ]
    for args, message in cases:
        code, line = run_inprocess(args, capsys)
        assert code == 2, args
        assert message in line, args
    assert not (tmp_path / "out.csv").exists()


@pytest.mark.slow
@pytest.mark.e2e
def test_benchmark_csv_json(tmp_path: Path, small_csv: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "target: status\nbad_values: [bad]\ndrop: [row_id]\ncategorical: [grp]\nmonotone: {x1: 1}\n"
    )
    result = run(
        ["benchmark", "--csv", str(small_csv), "--spec", str(spec), "--folds", "3", "--json"], tmp_path
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    for key in ("auc", "gini", "ks", "brier", "ece", "auc_scorecard", "n", "bad_rate", "folds"):
        assert key in summary
    assert summary["n"] == 600 and summary["folds"] == 3
    assert summary["auc"] > 0.7 and summary["auc_scorecard"] > 0.7  # the signal is strong by construction
    assert summary["gini"] == pytest.approx(2 * summary["auc"] - 1)
