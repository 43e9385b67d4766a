"""``creditdesk risk …`` through the real console script (the stress side by side: tests/ledger)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, require_dataset

CLI = str(Path(sys.executable).with_name("creditdesk"))


def run(args: list[str], var_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "CREDITDESK_VAR_DIR": str(var_dir),
        "CREDITDESK_SHARED_DIR": str(REPO_ROOT.parent / "shared"),
    }
    env.pop("CREDITDESK_DB_URL", None)
    return subprocess.run(
        [CLI, *args], cwd=var_dir.parent, env=env, capture_output=True, text=True, timeout=300
    )


def last_json(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.e2e
def test_regime_events_are_written_once_and_reviews_clear(tmp_path: Path) -> None:
    require_dataset("sp500_prices/daily_prices.parquet")
    var = tmp_path / "var"
    var.mkdir()
    first = run(["risk", "regime", "--from", "2008-06-01", "--through", "2008-10-31", "--json"], var)
    assert first.returncode == 0, first.stderr
    result = last_json(first.stdout)
    assert result["level"] == "crisis" and result["written"] > 0
    assert [e["change"] for e in result["market_events"]] == ["calm → stressed", "stressed → crisis"]
    again = run(["risk", "regime", "--from", "2008-06-01", "--through", "2008-10-31", "--json"], var)
    assert last_json(again.stdout)["written"] == 0  # the books already hold them
    bad = run(["risk", "review", "clear", "--customer", "5", "--analyst", "ana"], var)
    assert (
        bad.returncode == 2 and "no open review" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    )


@pytest.mark.e2e
def test_bad_policy_and_dates_exit_2_naming_the_key(tmp_path: Path) -> None:
    var = tmp_path / "var"
    var.mkdir()
    policy = tmp_path / "p.yaml"
    policy.write_text("regime:\n  stressed_vol_annual: 0.5\n  crisis_vol_annual: 0.3\n")
    done = run(["risk", "regime", "--through", "2008-10-31", "--policy", str(policy)], var)
    assert done.returncode == 2 and "crisis_vol_annual" in done.stderr
    done = run(["risk", "regime", "--through", "yesterday-ish"], var)
    assert done.returncode == 2 and "--through" in done.stderr
