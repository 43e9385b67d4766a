"""Time is an input (issue 13): ``creditdesk ledger <command> … --at T`` in process, on a private database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from ledger_support import journal_decision

from creditdesk.settings import get_settings
from tests.conftest import run_cli


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
    assert run_cli(["ledger", "init"], capsys)[0] == 0
    journal_decision(f"sqlite:///{var / 'ledger.db'}", "dec-5", 5, line_minor=300_000_000, annual_rate=0.0835)
    fri, sat = "2026-11-20T10:00:00+08:00", "2026-11-21T10:00:00+08:00"
    steps = [
        [
            "instrument",
            "--id",
            "1",
            "--symbol",
            "AAA",
            "--kind",
            "index_constituent",
            "--price",
            "100000",
            "--at",
            fri,
        ],
        ["open", "--decision", "dec-5", "--at", fri],
        ["deposit", "--customer", "5", "--amount", "200000000", "--op", "d1", "--at", fri],
        [
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
            "--at",
            fri,
        ],
    ]
    for step in steps:
        code, _, err = run_cli(["ledger", *step], capsys)
        assert code == 0, (step, err)
    # an operation dated before the facility opened: exit 2, one line naming the field, nothing written
    code, _, err = run_cli(
        ["ledger", "deposit", "--customer", "5", "--amount", "1", "--op", "x", "--at", "2026-11-19"], capsys
    )
    assert (
        code == 2
        and "at" in err
        and "before the facility opened" in err
        and len(err.strip().splitlines()) == 1
    )
    code, out, _ = run_cli(["ledger", "margin", "--customer", "5", "--json", "--at", sat], capsys)
    assert json.loads(out.strip().splitlines()[-1])["cash_minor"] == 0  # the refused deposit left nothing
    # Friday's loan of ¥1,000,000 at 8.35 % ACT/360, accrued on Monday through Sunday: 3 days
    code, out, _ = run_cli(
        ["ledger", "accrue", "--through", "2026-11-22", "--json", "--at", "2026-11-23T09:00:00+08:00"], capsys
    )
    assert code == 0 and json.loads(out.strip().splitlines()[-1])["posted"] == 3
    code, out, _ = run_cli(["ledger", "margin", "--customer", "5", "--json"], capsys)
    assert json.loads(out.strip().splitlines()[-1])["accrued_interest_minor"] == 69_582
    code, _, err = run_cli(["ledger", "margin", "--customer", "5", "--at", "next friday"], capsys)
    assert code == 2 and err.startswith("creditdesk: error: at")


def test_open_refuses_a_currency_other_than_the_decisions(
    var: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 13: a decision priced under the cn policy (CNY fen) opens no USD facility."""
    assert run_cli(["ledger", "init"], capsys)[0] == 0
    url = f"sqlite:///{var / 'ledger.db'}"
    journal_decision(url, "dec-7", 7, regime="cn", currency="CNY")
    code, _, err = run_cli(["ledger", "open", "--decision", "dec-7", "--currency", "USD"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert err.startswith("creditdesk: error: currency_mismatch: currency 'USD' differs")
    code, _, err = run_cli(["ledger", "margin", "--customer", "7"], capsys)
    assert code == 2  # nothing was opened
    code, out, _ = run_cli(["ledger", "open", "--decision", "dec-7", "--json"], capsys)
    opened = json.loads(out.strip().splitlines()[-1])
    assert code == 0 and (opened["regime"], opened["created"]) == ("cn", True)


def test_every_ledger_subcommand_takes_at_after_its_name() -> None:
    import typer

    from pipelines.cmd_ledger import ledger_app

    group: Any = typer.main.get_command(ledger_app)
    assert {"open", "deposit", "buy", "sell", "transfer", "batch", "mark", "accrue", "eod"} <= set(
        group.commands
    )
    options = {name: {o for p in cmd.params for o in p.opts} for name, cmd in group.commands.items()}
    assert [name for name, opts in options.items() if "--at" not in opts] == ["init"]


def test_a_raw_transfer_is_stamped_at_its_business_time(
    var: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import sqlite3

    from creditdesk.business_time import parse_at
    from margin.chart import Code, currency_ledger, customer_account, platform_account

    assert run_cli(["ledger", "init"], capsys)[0] == 0
    journal_decision(f"sqlite:///{var / 'ledger.db'}", "dec-8", 8, line_minor=1_000_000)
    opened, later = "2026-03-02T09:30:00+08:00", "2026-03-04T14:00:00+08:00"
    assert run_cli(["ledger", "open", "--decision", "dec-8", "--at", opened], capsys)[0] == 0
    cny = currency_ledger("CNY")
    debit, credit = platform_account(Code.FUNDING, cny), customer_account(8, Code.CUSTOMER_CASH)
    args = ["--debit", str(debit), "--credit", str(credit), "--amount", "500", "--ledger", str(cny)]
    code, _, err = run_cli(["ledger", "transfer", "--id", "77", *args, "--code", "1", "--at", later], capsys)
    assert code == 0, err
    with sqlite3.connect(var / "ledger.db") as conn:
        stamps = dict(conn.execute("SELECT id, timestamp_ns FROM ledger_transfers").fetchall())
    assert parse_at(later, 0) <= stamps[77] < parse_at(later, 0) + 10**9  # stamped at --at
    others = [t for i, t in stamps.items() if i != 77]
    assert others and all(parse_at(opened, 0) <= t < parse_at(opened, 0) + 10**9 for t in others)
