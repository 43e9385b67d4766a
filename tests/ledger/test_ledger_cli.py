"""``creditdesk ledger …`` and ``creditdesk stress`` driven through the real console script."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, require_dataset
from tests.ledger.ledger_support import journal_decision

CLI = str(Path(sys.executable).with_name("creditdesk"))


def run(args: list[str], var_dir: Path, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "CREDITDESK_VAR_DIR": str(var_dir),
        "CREDITDESK_SHARED_DIR": str(REPO_ROOT.parent / "shared"),
    }
    env.pop("CREDITDESK_DB_URL", None)
    return subprocess.run(
        [CLI, *args], cwd=var_dir.parent, env=env, capture_output=True, text=True, timeout=timeout
    )


def last_json(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.e2e
def test_facility_flow_and_end_of_day(tmp_path: Path) -> None:
    var = tmp_path / "var"
    var.mkdir()
    journal_decision(f"sqlite:///{var / 'ledger.db'}", "dec-5", 5, line_minor=100_000, annual_rate=0.073)
    steps = [
        [
            "ledger",
            "instrument",
            "--id",
            "1",
            "--symbol",
            "AAA",
            "--kind",
            "index_constituent",
            "--price",
            "1000",
        ],
        ["ledger", "open", "--decision", "dec-5"],
        ["ledger", "deposit", "--customer", "5", "--amount", "50000", "--op", "d1"],
        [
            "ledger",
            "buy",
            "--customer",
            "5",
            "--instrument",
            "1",
            "--quantity",
            "70",
            "--price",
            "1000",
            "--op",
            "b1",
        ],
    ]
    for step in steps:
        done = run(step, var)
        assert done.returncode == 0, (step, done.stderr)
    margin = run(["ledger", "margin", "--customer", "5", "--json"], var)
    assert last_json(margin.stdout)["ratio"] == pytest.approx(70_000 / 20_000)
    eod = run(["ledger", "eod", "--day", "2026-01-20", "--json"], var)
    assert eod.returncode == 0, eod.stdout + eod.stderr
    report = last_json(eod.stdout)
    assert report["ok"] and report["interest_accruals"] == 1
    again = run(["ledger", "eod", "--day", "2026-01-20", "--json"], var)
    assert last_json(again.stdout)["interest_accruals"] == 1  # accrued exactly once
    with sqlite3.connect(var / "ledger.db") as conn:  # tamper with a balance behind the ledger's back
        conn.execute("UPDATE ledger_accounts SET credits_posted = credits_posted + 1 WHERE code = 10")
    broken = run(["ledger", "eod", "--day", "2026-01-20", "--no-accrue"], var)
    assert broken.returncode == 1 and "BREAK replay" in broken.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ledger", "deposit", "--customer", "5", "--amount", "0", "--op", "x"], "amount_minor"),
        (["ledger", "deposit", "--customer", "77", "--amount", "5", "--op", "x"], "no margin facility"),
        (["ledger", "transfer", "--id", "9", "--debit", "1", "--credit", "2", "--amount", "5"], "refused"),
        (["ledger", "eod", "--day", "20-01-2026"], "--day"),
        (["stress", "--from", "2009-01-01", "--to", "2008-01-01"], "--to"),
        (["ledger", "mark", "1:200"], "INSTRUMENT_ID=PRICE_MINOR"),
        (["ledger", "open", "--decision", "no-such-decision"], "not_found"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    var_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    message: str,
) -> None:
    from pipelines.cli import main

    monkeypatch.delenv("CREDITDESK_DB_URL", raising=False)
    with pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]


@pytest.mark.slow
@pytest.mark.e2e
def test_batch_file_posts_linked_chain(tmp_path: Path) -> None:
    var = tmp_path / "var"
    var.mkdir()
    journal_decision(f"sqlite:///{var / 'ledger.db'}", "d3", 3, line_minor=1000, annual_rate=0.05)
    assert run(["ledger", "open", "--decision", "d3"], var).returncode == 0
    cash, funding = 3 * 10**8 + 10 * 10**6, 20 * 10**6 + 156
    lines = [
        {
            "id": 1,
            "debit_account_id": funding,
            "credit_account_id": cash,
            "amount_minor": 10,
            "ledger": 156,
            "code": 1,
            "flags": 1,
        },
        {
            "id": 2,
            "debit_account_id": cash,
            "credit_account_id": funding,
            "amount_minor": 11,
            "ledger": 156,
            "code": 2,
        },
    ]
    batch = tmp_path / "batch.jsonl"
    batch.write_text("\n".join(json.dumps(x) for x in lines))
    done = run(["ledger", "batch", str(batch), "--json"], var)
    assert done.returncode == 2 and last_json(done.stdout)["results"] == [
        "linked_event_failed",
        "exceeds_credits",
    ]
    lines[1]["amount_minor"] = 10
    batch.write_text("\n".join(json.dumps(x) for x in lines))
    assert last_json(run(["ledger", "batch", str(batch), "--json"], var).stdout)["results"] == ["ok", "ok"]
    assert last_json(run(["ledger", "batch", str(batch), "--json"], var).stdout)["results"] == [
        "exists",
        "exists",
    ]


@pytest.mark.slow
@pytest.mark.e2e
def test_stress_2008_on_real_prices(tmp_path: Path) -> None:
    require_dataset("sp500_prices/daily_prices.parquet")
    var = tmp_path / "var"
    var.mkdir()
    done = run(["stress", "--from", "2008-09-01", "--to", "2009-03-31", "--accounts", "400", "--json"], var)
    assert done.returncode == 0, done.stderr
    report = last_json(done.stdout)
    assert report["price_source"] == "sp500" and report["trading_days"] > 140
    assert report["totals"]["calls_issued"] > 0 and report["totals"]["liquidations_started"] > 0
    assert report["backtest"]["zone"] in ("yellow", "red")  # 2008 breaks a VaR fitted on 2007-08
    csv = Path(report["csv"])
    assert csv.exists() and csv.read_text().splitlines()[0].startswith("date,warnings")
    # issue 14: the same book under the dynamic risk controls, side by side
    for side in ("static", "dynamic"):
        assert {"calls", "liquidations", "shortfalls", "loss_minor"} <= set(report[side])
    assert report["dynamic"]["loss_minor"] <= report["static"]["loss_minor"]
    timeline = report["regime_timeline"]
    crisis_from = next(e["effective"] for e in timeline["events"] if e["what"].endswith("crisis"))
    assert all(crisis_from < d["date"] for d in timeline["worst_index_days"])  # crisis before the worst days
