"""Opening a facility from a decision: the CLI and the API answer the same, and racing is safe.

One rule (``margin.opening.open_from_decision``) behind both adapters: the same sequence
of operations through ``creditdesk ledger open`` and through ``POST /v1/accounts`` gives
the same outcome per step (created / existing / the refusal's reason code), and two real
uvicorn workers racing to open one decision open exactly one facility (one 201, the rest
200), while racing to open it as another regime gets 409 every time.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ledger"))
from ledger_support import journal_decision  # type: ignore[import-not-found]

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

# (decision id, customer, outcome) in the journal; then the steps: (decision id, regime)
OK, NO, TWO, MISSING = ("a" * 32, "b" * 32, "c" * 32, "d" * 32)  # decision ids: 32 hex digits
DECISIONS = [(OK, 41, "approve"), (NO, 42, "decline"), (TWO, 41, "approve")]
STEPS = [
    (OK, "cn"),  # created
    (OK, "cn"),  # the same again: existing
    (OK, "us"),  # another regime: terms_conflict
    (NO, "cn"),  # declined: not_approved
    (MISSING, "cn"),  # unknown: not_found
    (TWO, "cn"),  # customer 41 already has a facility: facility_exists
]
HTTP_OUTCOME = {201: "created", 200: "existing"}


def _journal(var: Path) -> None:
    for decision_id, customer, outcome in DECISIONS:
        journal_decision(f"sqlite:///{var / 'ledger.db'}", decision_id, customer, outcome)


def _facilities(var: Path) -> list[tuple[int, str, str]]:
    with sqlite3.connect(var / "ledger.db") as conn:
        return conn.execute("SELECT customer_id, decision_id, regime FROM margin_facilities").fetchall()


def test_cli_and_api_give_identical_results(
    start_api: Callable[..., Any], run_cli: Callable[..., Any], tmp_path: Path
) -> None:
    api_var, cli_var = tmp_path / "api", tmp_path / "cli"
    api_var.mkdir()
    cli_var.mkdir()
    server = start_api(var_dir=api_var)
    _journal(api_var)
    _journal(cli_var)
    ops = server.auth("operations")
    via_api, via_cli = [], []
    with server.client() as client:
        for decision_id, regime in STEPS:
            r = client.post("/v1/accounts", json={"decision_id": decision_id, "regime": regime}, headers=ops)
            via_api.append(HTTP_OUTCOME.get(r.status_code) or r.json()["errors"][0]["rule"])
    env = {**server.env, "CREDITDESK_VAR_DIR": str(cli_var)}
    for decision_id, regime in STEPS:
        done = run_cli(["ledger", "open", "--decision", decision_id, "--regime", regime, "--json"], env)
        if done.returncode == 0:
            created = json.loads(done.stdout.strip().splitlines()[-1])["created"]
            via_cli.append("created" if created else "existing")
        else:
            assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
            via_cli.append(done.stderr.split("decision_id: ", 1)[1].split(":", 1)[0])
    expected = ["created", "existing", "terms_conflict", "not_approved", "not_found", "facility_exists"]
    assert via_api == via_cli == expected
    assert _facilities(api_var) == _facilities(cli_var) == [(41, OK, "cn")]


def test_two_workers_racing_open_one_facility(start_api: Callable[..., Any], tmp_path: Path) -> None:
    var = tmp_path / "race"
    var.mkdir()
    server = start_api(workers=2, var_dir=var)
    _journal(var)
    ops = server.auth("operations")

    def post(regime: str) -> int:
        with server.client() as client:
            body = {"decision_id": OK, "regime": regime}
            return int(client.post("/v1/accounts", json=body, headers=ops).status_code)

    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(post, ["cn"] * 12))
    assert sorted(codes) == [200] * 11 + [201], codes
    with ThreadPoolExecutor(max_workers=8) as pool:
        assert set(pool.map(post, ["us"] * 8)) == {409}
    assert _facilities(var) == [(41, OK, "cn")]
