"""``creditdesk features`` driven as a user would: the real console script in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.builders import build_features
from features.catalogue import CATALOGUE_VERSION
from tests.features.feature_tables import hand_made, typed

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CLI = Path(sys.executable).parent / "creditdesk"


def clean_tables() -> dict[str, pd.DataFrame]:
    tables = hand_made()
    tables["trades"] = tables["trades"][tables["trades"]["trade_id"] != 8].reset_index(drop=True)
    flows = tables["cash_flows"]
    tables["cash_flows"] = flows[flows["timestamp"] < pd.Timestamp("2021-01-04")].reset_index(drop=True)
    outcome = {
        "default_cause": "none",
        "default_date": pd.NaT,
        "observation_end_date": pd.Timestamp("2022-01-04"),
        "credit_limit_minor": 400_000,
        "drawn_at_open_minor": 200_000,
        "exposure_at_default_minor": 0,
        "loss_minor": 0,
        "recovery_minor": 0,
        "margin_calls_12m": 0,
        "liquidated": False,
    }
    tables["outcomes"] = typed(
        "outcomes",
        [
            # Default: EAD 300000 of a 400000 line with 200000 drawn at open, loss 60000.
            {
                **outcome,
                "application_id": 101,
                "customer_id": 1,
                "default_12m": True,
                "default_cause": "margin_shortfall",
                "default_date": pd.Timestamp("2021-06-01"),
                "exposure_at_default_minor": 300_000,
                "loss_minor": 60_000,
                "recovery_minor": 240_000,
                "liquidated": True,
            },
            {**outcome, "application_id": 102, "customer_id": 2, "default_12m": False},
        ],
    )
    return tables


def write_raw(tables: dict[str, pd.DataFrame], directory: Path) -> Path:
    directory.mkdir(parents=True)
    for name, frame in tables.items():
        frame.to_parquet(directory / f"{name}.parquet", index=False)
    return directory


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CREDITDESK_VAR_DIR": str(cwd / "var")}
    return subprocess.run([str(CLI), *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


def test_features_writes_table_labels_and_validation(tmp_path: Path) -> None:
    tables = clean_tables()
    raw = write_raw(tables, tmp_path / "raw")
    out = tmp_path / "out"
    result = run_cli("features", "--raw", str(raw), "--out", str(out), "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["status"] == "passed" and report["feature_rows"] == 2
    assert report["catalogue_version"] == CATALOGUE_VERSION

    written = pd.read_parquet(out / "features.parquet")
    pd.testing.assert_frame_equal(written, build_features(tables))

    labels = pd.read_parquet(out / "labels.parquet").set_index("application_id")
    assert labels.loc[101, "lgd"] == 60_000 / 300_000
    assert labels.loc[101, "ccf"] == 300_000 / 400_000  # from the application date: EAD / limit
    assert labels.loc[101, "ead_minor"] == 300_000 and bool(labels.loc[101, "default_12m"])
    assert np.isnan(labels.loc[102, "lgd"]) and np.isnan(labels.loc[102, "ccf"])
    assert "default_12m" not in written.columns  # labels never travel with features

    validation = json.loads((out / "validation.json").read_text())
    assert validation["status"] == "passed"
    assert validation["raw"]["success"] and validation["features"]["success"]
    assert not list(out.glob("*.tmp"))


def test_contract_failure_exits_2_names_the_failures_and_writes_no_features(tmp_path: Path) -> None:
    tables = clean_tables()
    trades = tables["trades"]
    trades.loc[trades["trade_id"] == 4, "quantity"] = -5
    trades.loc[trades["trade_id"] == 7, "trade_id"] = 6
    raw = write_raw(tables, tmp_path / "raw")
    out = tmp_path / "out"
    out.mkdir()
    (out / "features.parquet").write_text("stale table from an earlier run")

    result = run_cli("features", "--raw", str(raw), "--out", str(out), cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "trades.quantity: quantity > 0 (1 rows; e.g. [-5])" in lines[0]
    assert "trades.trade_id: trade_id is unique" in lines[0]
    assert "no feature table written" in lines[0]
    assert sorted(p.name for p in out.iterdir()) == ["validation.json"]
    validation = json.loads((out / "validation.json").read_text())
    assert validation["status"] == "failed" and validation["failed_stage"] == "raw"


def test_missing_table_and_missing_directory_are_refused(tmp_path: Path) -> None:
    tables = clean_tables()
    del tables["bureau"]
    raw = write_raw(tables, tmp_path / "raw")
    result = run_cli("features", "--raw", str(raw), "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert result.returncode == 2
    assert "bureau.parquet missing" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()

    result = run_cli(
        "features", "--raw", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o"), cwd=tmp_path
    )
    assert result.returncode == 2 and "not a directory" in result.stderr
