"""``creditdesk report``: files written, exit codes, bad input refused with nothing written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from monitoring.contract import LogicalType
from pipelines import reporting
from tests.conftest import run_cli

CREDITDESK = Path(sys.executable).parent / "creditdesk"


@pytest.fixture
def sets(tmp_path: Path, population) -> dict[str, Path]:
    reference = population(4000, seed=11)
    current = population(4000, seed=12)
    drifted = current.assign(annual_income_minor=current["annual_income_minor"] // 2)
    paths = {"reference": tmp_path / "reference.parquet", "current": tmp_path / "current.parquet"}
    reference.to_parquet(paths["reference"])
    current.to_parquet(paths["current"])
    drifted.to_parquet(tmp_path / "drifted.parquet")
    paths["drifted"] = tmp_path / "drifted.parquet"
    return paths


def _leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


@pytest.mark.slow
def test_cli_report_end_to_end_with_evidently(sets: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "report"
    args = ["report", "--reference", str(sets["reference"]), "--current", str(sets["drifted"])]
    proc = subprocess.run(
        [str(CREDITDESK), *args, "--out", str(out), "--json", "--fail-on-drift", "--evidently-rows", "2000"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 1, proc.stderr  # income drifted red and --fail-on-drift was given
    last = json.loads(proc.stdout.strip().splitlines()[-1])
    assert last["drifted_features"] == ["annual_income_minor"]
    assert last["overall"] == "red"
    assert Path(last["index"]) == out / "index.html"

    assert sorted(p.name for p in out.iterdir()) == ["drift.html", "index.html", "summary.json"]
    data = json.loads((out / "summary.json").read_text())
    assert data["features"]["annual_income_minor"]["light"] == "red"
    assert data["features"]["annual_income_minor"]["evidently_drifted"] is True
    assert data["features"]["bureau_score"]["evidently_drifted"] is False
    assert data["evidently"]["reference_rows"] == 2000
    page = (out / "index.html").read_text()
    for section in ("summary", "stability", "score", "performance", "portfolio", "ledger"):
        assert f'id="{section}"' in page
    assert 'href="drift.html"' in page
    assert "<script" not in page
    assert (out / "drift.html").stat().st_size > 10_000
    assert _leftovers(tmp_path) == []


def test_cli_report_on_stable_data_exits_0_with_fail_on_drift(
    sets: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "stable"
    code, stdout, err = run_cli(
        [
            "report",
            "--reference",
            str(sets["reference"]),
            "--current",
            str(sets["current"]),
            "--out",
            str(out),
            "--no-evidently",
            "--fail-on-drift",
            "--json",
        ],
        capsys,
    )
    assert code == 0, err
    last = json.loads(stdout.strip().splitlines()[-1])
    assert last["drifted_features"] == []
    assert set(last["features"]) == {
        "bureau_score",
        "credit_utilisation",
        "annual_income_minor",
        "employment",
        "identity_verified",
    }
    data = json.loads((out / "summary.json").read_text())
    assert data["files"]["evidently"] is None
    assert data["counts"]["red"] == 0
    assert all(item["light"] == "green" for item in data["features"].values())
    assert sorted(p.name for p in out.iterdir()) == ["index.html", "summary.json"]


def test_a_new_report_replaces_a_previous_one(
    sets: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "monthly"
    base = ["report", "--reference", str(sets["reference"]), "--out", str(out), "--no-evidently"]
    assert run_cli([*base, "--current", str(sets["current"])], capsys)[0] == 0
    assert json.loads((out / "summary.json").read_text())["overall"] != "red"
    assert run_cli([*base, "--current", str(sets["drifted"])], capsys)[0] == 0
    assert json.loads((out / "summary.json").read_text())["overall"] == "red"
    assert _leftovers(tmp_path) == []


def test_a_failure_while_writing_keeps_the_previous_report(
    sets: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = pd.read_parquet(sets["reference"])
    out = tmp_path / "kept"
    reporting.run_report(reference, pd.read_parquet(sets["current"]), out, evidently=False)
    before = (out / "summary.json").read_text()

    def broken(*args: object, **kwargs: object) -> str:
        raise RuntimeError("disk full")

    monkeypatch.setattr("monitoring.page.render_index", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        reporting.run_report(reference, pd.read_parquet(sets["drifted"]), out, evidently=False)
    assert (out / "summary.json").read_text() == before
    assert sorted(p.name for p in out.iterdir()) == ["index.html", "summary.json"]
    assert _leftovers(tmp_path) == []


def _bad_frames(sets: dict[str, Path], tmp_path: Path, case: str) -> list[str]:
    """Arguments for one bad-input case (files written under tmp_path as needed)."""
    reference = pd.read_parquet(sets["reference"])
    current = pd.read_parquet(sets["current"])
    bad = tmp_path / "bad.parquet"
    args = ["--reference", str(sets["reference"]), "--current", str(bad)]
    if case == "extra column":
        current.assign(new_feature=1.0).to_parquet(bad)
    elif case == "missing column":
        current.drop(columns=["credit_utilisation"]).to_parquet(bad)
    elif case == "type changed":
        current.assign(bureau_score=current["bureau_score"].astype(str)).to_parquet(bad)
    elif case == "empty current":
        current.iloc[0:0].to_parquet(bad)
    elif case == "reference without score":
        reference.drop(columns=["pd_12m"]).to_parquet(bad)
        args = ["--reference", str(bad), "--current", str(sets["current"])]
    elif case == "pd out of range":
        current.assign(pd_12m=current["pd_12m"] * 50).to_parquet(bad)
    elif case == "score missing values":
        current.assign(pd_12m=np.where(np.arange(len(current)) == 3, np.nan, current["pd_12m"])).to_parquet(
            bad
        )
    elif case == "not parquet":
        bad.write_text("customer_id,income\n1,2\n")
    elif case == "file not found":
        args = ["--reference", str(sets["reference"]), "--current", str(tmp_path / "nope.parquet")]
    elif case == "both current and since":
        args = [
            "--reference",
            str(sets["reference"]),
            "--current",
            str(sets["current"]),
            "--since",
            "2024-01-01",
        ]
    elif case == "neither current nor since":
        args = ["--reference", str(sets["reference"])]
    elif case == "bad since date":
        args = ["--reference", str(sets["reference"]), "--since", "last tuesday"]
    elif case == "unknown feature":
        args = [
            "--reference",
            str(sets["reference"]),
            "--current",
            str(sets["current"]),
            "--features",
            "nope",
        ]
    elif case == "bins":
        args = ["--reference", str(sets["reference"]), "--current", str(sets["current"]), "--bins", "1"]
    return args


BAD_CASES = {
    "extra column": "new_feature",
    "missing column": "credit_utilisation",
    "type changed": "bureau_score",
    "empty current": "no rows",
    "reference without score": "no score column",
    "pd out of range": "probability",
    "score missing values": "missing",
    "not parquet": "parquet",
    "file not found": "not found",
    "both current and since": "exactly one",
    "neither current nor since": "exactly one",
    "bad since date": "since",
    "unknown feature": "nope",
    "bins": "bins",
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_input_exits_2_with_one_line_and_writes_nothing(
    case: str, sets: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    args = ["report", *_bad_frames(sets, tmp_path, case), "--out", str(out), "--no-evidently"]
    code, _, err = run_cli(args, capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("creditdesk: error:")
    assert BAD_CASES[case] in lines[0]
    assert not out.exists()
    assert _leftovers(tmp_path) == []


def test_out_must_not_be_a_file_or_a_foreign_directory(
    sets: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = [
        "report",
        "--reference",
        str(sets["reference"]),
        "--current",
        str(sets["current"]),
        "--no-evidently",
    ]
    a_file = tmp_path / "notes.txt"
    a_file.write_text("keep me")
    code, _, err = run_cli([*base, "--out", str(a_file)], capsys)
    assert code == 2 and "is a file" in err
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "holiday.jpg").write_bytes(b"\xff\xd8")
    code, _, err = run_cli([*base, "--out", str(foreign)], capsys)
    assert code == 2 and "not a previous report" in err
    assert a_file.read_text() == "keep me"
    assert [p.name for p in foreign.iterdir()] == ["holiday.jpg"]


def test_an_evidently_failure_degrades_to_a_note(
    sets: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> dict[str, object]:
        raise ValueError("evidently could not cope")

    monkeypatch.setattr("monitoring.drift_detail.write_drift_report", broken)
    out = tmp_path / "degraded"
    outcome = reporting.run_report(
        pd.read_parquet(sets["reference"]), pd.read_parquet(sets["drifted"]), out, evidently=True
    )
    assert sorted(p.name for p in out.iterdir()) == ["index.html", "summary.json"]
    assert outcome.summary["evidently"] == {"error": "ValueError: evidently could not cope"}
    assert outcome.summary["files"]["evidently"] is None
    assert outcome.summary["drifted_features"] == ["annual_income_minor"]  # our PSI is unaffected
    assert "Evidently detail report not produced for this run: ValueError" in (out / "index.html").read_text()


@pytest.mark.slow
def test_evidently_detail_skips_empty_columns_and_keeps_the_rest(tmp_path: Path) -> None:
    from monitoring.drift_detail import write_drift_report

    rng = np.random.default_rng(0)
    reference = pd.DataFrame(
        {
            "shifted": rng.normal(size=800),
            "empty_now": rng.normal(size=800),
            "kind": rng.choice(["a", "b"], 800),
        }
    )
    current = reference.assign(shifted=reference["shifted"] + 1.0, empty_now=np.nan)
    types: dict[str, LogicalType] = {"shifted": "numeric", "empty_now": "numeric", "kind": "categorical"}
    digest = write_drift_report(reference, current, list(types), types, tmp_path / "drift.html")
    assert digest["skipped_empty_columns"] == ["empty_now"]
    assert digest["columns"]["shifted"]["drifted"] is True
    assert digest["columns"]["kind"]["drifted"] is False
    assert (tmp_path / "drift.html").stat().st_size > 10_000
