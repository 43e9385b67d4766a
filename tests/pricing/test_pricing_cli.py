"""`creditdesk price` and `creditdesk simulate`, driven as a user would (console script + in process)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.conftest import run_cli
from tests.pricing.pricing_support import random_applicants

CREDITDESK = Path(sys.executable).parent / "creditdesk"


LEGACY_POLICY = Path(__file__).with_name("policy_2026_1.yaml")  # the USD policy these goldens use


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CREDITDESK), *args], capture_output=True, text=True, timeout=120)


def applications(n: int = 400, seed: int = 3) -> pd.DataFrame:
    ids = np.arange(1, n + 1, dtype=np.int64)
    return pd.DataFrame({"application_id": ids, **random_applicants(n, seed)})


def looser_policy(tmp_path: Path) -> Path:
    doc = yaml.safe_load(LEGACY_POLICY.read_text())
    doc["version"] = "2026.2.0-candidate"
    doc["grades"]["acceptable_max_grade"] = 9
    doc["rates"]["rate_cap"] = 0.16
    path = tmp_path / "new.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.mark.e2e
def test_price_console_script_json() -> None:
    done = run("price", "--pd", "0.01", "--lgd", "0.45", "--ead", "1000000", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    for key in (
        "expected_loss",
        "correlation",
        "capital_k",
        "economic_capital",
        "annual_rate",
        "raroc",
        "outcome",
    ):
        assert key in result
    assert abs(result["correlation"] - 0.1216094516634327) < 1e-9
    assert abs(result["capital_k"] - 0.03661817967298228) < 1e-9
    assert abs(result["expected_loss"] - 4500.0) < 1e-9
    assert abs(result["raroc"] - 0.15) < 1e-9 and result["outcome"] == "approve"
    assert "capital K" in done.stdout
    bad = run("price", "--pd", "1.5", "--lgd", "0.4", "--ead", "100")
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr == "creditdesk: error: pd must be a number in (0, 1), got 1.5\n"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--pd", "1.5", "--lgd", "0.4", "--ead", "100"], "pd must be a number in (0, 1)"),
        (["--pd", "nan", "--lgd", "0.4", "--ead", "100"], "got NaN"),
        (["--pd", "0.1", "--lgd", "-0.4", "--ead", "100"], "lgd must be"),
        (["--pd", "0.1", "--lgd", "0.4", "--ead", "-1"], "ead must be"),
        (["--pd", "abc", "--lgd", "0.4", "--ead", "1"], "--pd"),
        (["--pd", "0.1", "--lgd", "0.4"], "--ead"),
    ],
)
def test_price_bad_input_exit_2_one_line(
    capsys: pytest.CaptureFixture[str], args: list[str], needle: str
) -> None:
    code, out, err = run_cli(["price", *args], capsys)
    assert code == 2 and out == ""
    assert needle in err
    assert len(err.strip().splitlines()) == 1


def test_price_with_grade_and_policy(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run_cli(
        ["price", "--pd", "0.2", "--lgd", "0.6", "--ead", "100", "--grade", "9", "--json"],
        capsys,
    )
    result = json.loads(out.strip().splitlines()[-1])
    assert code == 0 and result["outcome"] == "decline"
    assert result["reasons"] == ["DC_GRADE", "DC_UNPROFITABLE"] and result["rate_capped"] is True
    assert result["annual_rate"] == 0.12
    code, out, _ = run_cli(
        [
            "price",
            "--pd",
            "0.2",
            "--lgd",
            "0.6",
            "--ead",
            "100",
            "--policy",
            str(looser_policy(tmp_path)),
            "--json",
        ],
        capsys,
    )
    assert json.loads(out.strip().splitlines()[-1])["policy_version"] == "2026.2.0-candidate"
    bad = tmp_path / "bad.yaml"
    bad.write_text(LEGACY_POLICY.read_text().replace("rate_cap:", "rate_caps:"))
    code, _, err = run_cli(
        ["price", "--pd", "0.1", "--lgd", "0.4", "--ead", "1", "--policy", str(bad)], capsys
    )
    assert code == 2 and "rates.rate_caps: unknown key" in err


@pytest.mark.e2e
def test_simulate_console_script_parquet(tmp_path: Path) -> None:
    apps = tmp_path / "apps.parquet"
    applications().to_parquet(apps)
    swaps = tmp_path / "swaps.csv"
    done = run(
        "simulate",
        "--policy", str(looser_policy(tmp_path)),
        "--against", str(LEGACY_POLICY),
        "--applications", str(apps),
        "--out", str(swaps),
        "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    cur, new, swap = result["current"], result["new"], result["swap"]
    assert result["applications"] == 400
    assert cur["n_approve"] + cur["n_refer"] + cur["n_decline"] == 400
    # the looser policy accepts grade 9 and prices up to 16 %: it only adds approvals here
    assert swap["swap_in"] > 0 and swap["swap_out"] == 0
    assert new["n_approve"] == cur["n_approve"] + swap["swap_in"]
    assert new["approval_rate"] > cur["approval_rate"]
    assert new["expected_loss_minor"] > cur["expected_loss_minor"]
    assert cur["policy_version"] == "2026.1.0" and new["policy_version"] == "2026.2.0-candidate"
    written = pd.read_csv(swaps)
    assert len(written) == swap["swap_in"] + swap["swap_out"]
    assert set(written["swap"]) == {"in"} and set(written["outcome_new"]) == {"approve"}
    assert "swap-in" in done.stdout and "RAROC of the book" in done.stdout


def test_simulate_same_policy_csv_has_no_swaps(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    apps = tmp_path / "apps.csv"
    applications(100).to_csv(apps, index=False)
    code, out, err = run_cli(
        ["simulate", "--policy", str(LEGACY_POLICY), "--against", str(LEGACY_POLICY),
        "--applications", str(apps), "--json"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    assert result["swap"]["swap_in"] == result["swap"]["swap_out"] == 0
    assert result["current"] == result["new"]


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda p: p / "missing.parquet", "does not exist"),
        (lambda p: (p / "apps.txt").write_text("x") and p / "apps.txt", "must end in .parquet or .csv"),
        (lambda p: (p / "junk.parquet").write_text("not parquet") and p / "junk.parquet", "cannot be read"),
        (
            lambda p: applications(5).drop(columns=["ccf"]).to_csv(p / "a.csv", index=False) or p / "a.csv",
            "missing column(s) ccf",
        ),
        (
            lambda p: (
                applications(5).assign(pd_12m=[0.1, np.nan, 0.1, 0.1, 0.1]).to_csv(p / "b.csv", index=False)
                or p / "b.csv"
            ),
            "pd_12m must be a number in (0, 1), got NaN",
        ),
    ],
)
def test_simulate_bad_input_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, make, needle: str
) -> None:
    apps = make(tmp_path)
    out_file = tmp_path / "swaps.csv"
    code, _, err = run_cli(
        ["simulate", "--policy", str(LEGACY_POLICY), "--against", str(LEGACY_POLICY),
        "--applications", str(apps), "--out", str(out_file)],
        capsys,
    )  # fmt: skip
    assert code == 2
    assert needle in err and len(err.strip().splitlines()) == 1
    assert not out_file.exists()  # nothing half-written
