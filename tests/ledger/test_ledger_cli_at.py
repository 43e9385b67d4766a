"""Time is an input (issue 13): ``creditdesk ledger --at …`` in process, on a private database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ledger_support import journal_decision

from creditdesk.settings import get_settings
from pipelines.cli import main


def cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CREDITDESK_VAR_DIR", str(tmp_path))
    monkeypatch.delenv("CREDITDESK_DB_URL", raising=False)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_at_dates_every_command_and_refuses_a_time_before_opening(
    var: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(["ledger", "init"], capsys)[0] == 0
    journal_decision(f"sqlite:///{var / 'ledger.db'}", "dec-5", 5, line_minor=300_000_000, annual_rate=0.0835)
    fri, sat = "2026-11-20T10:00:00+08:00", "2026-11-21T10:00:00+08:00"
    steps = [
        [
            "--at",
            fri,
            "instrument",
            "--id",
            "1",
            "--symbol",
            "AAA",
            "--kind",
            "index_constituent",
            "--price",
            "100000",
        ],
        ["--at", fri, "open", "--decision", "dec-5"],
        ["--at", fri, "deposit", "--customer", "5", "--amount", "200000000", "--op", "d1"],
        [
            "--at",
            fri,
            "buy",
            "--customer",
            "5",
            "--instrument",
            "1",
            "--quantity",
            "3000",
            "--price",
            "100000",
            "--op",
            "b1",
        ],
    ]
    for step in steps:
        code, _, err = cli(["ledger", *step], capsys)
        assert code == 0, (step, err)
    # an operation dated before the facility opened: exit 2, one line naming the field, nothing written
    code, _, err = cli(
        ["ledger", "--at", "2026-11-19", "deposit", "--customer", "5", "--amount", "1", "--op", "x"], capsys
    )
    assert (
        code == 2
        and "at" in err
        and "before the facility opened" in err
        and len(err.strip().splitlines()) == 1
    )
    code, out, _ = cli(["ledger", "--at", sat, "margin", "--customer", "5", "--json"], capsys)
    assert json.loads(out.strip().splitlines()[-1])["cash_minor"] == 0  # the refused deposit left nothing
    # Friday's loan of ¥1,000,000 at 8.35 % ACT/360, accrued on Monday through Sunday: 3 days
    code, out, _ = cli(
        ["ledger", "--at", "2026-11-23T09:00:00+08:00", "accrue", "--through", "2026-11-22", "--json"], capsys
    )
    assert code == 0 and json.loads(out.strip().splitlines()[-1])["posted"] == 3
    code, out, _ = cli(["ledger", "margin", "--customer", "5", "--json"], capsys)
    assert json.loads(out.strip().splitlines()[-1])["accrued_interest_minor"] == 69_582
    code, _, err = cli(["ledger", "--at", "next friday", "margin", "--customer", "5"], capsys)
    assert code == 2 and err.startswith("creditdesk: error: at")


def test_open_refuses_a_currency_other_than_the_decisions(
    var: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 13: a decision priced under the cn policy (CNY fen) opens no USD facility."""
    assert cli(["ledger", "init"], capsys)[0] == 0
    url = f"sqlite:///{var / 'ledger.db'}"
    journal_decision(url, "dec-7", 7, regime="cn", currency="CNY")
    code, _, err = cli(["ledger", "open", "--decision", "dec-7", "--currency", "USD"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert err.startswith("creditdesk: error: currency_mismatch: currency 'USD' differs")
    code, _, err = cli(["ledger", "margin", "--customer", "7"], capsys)
    assert code == 2  # nothing was opened
    code, out, _ = cli(["ledger", "open", "--decision", "dec-7", "--json"], capsys)
    opened = json.loads(out.strip().splitlines()[-1])
    assert code == 0 and (opened["regime"], opened["created"]) == ("cn", True)
