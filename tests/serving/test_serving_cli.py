"""The serving room's CLI, run as the real console script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import REPO_ROOT

CREDITDESK = Path(sys.executable).parent / "creditdesk"


def run(args: list[str], var_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("CREDITDESK_")}
    full.update({"CREDITDESK_VAR_DIR": str(var_dir), **env})
    return subprocess.run(
        [str(CREDITDESK), *args], cwd=REPO_ROOT, env=full, capture_output=True, text=True, timeout=120
    )


@pytest.mark.slow
def test_keys_create_prints_the_key_last_and_stores_only_a_hash(tmp_path: Path) -> None:
    done = run(["keys", "create", "--role", "analyst", "--label", "risk team"], tmp_path)
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip().splitlines()[-1]
    assert token.startswith("cdk_") and len(token) == 4 + 12 + 1 + 43
    as_json = run(["keys", "create", "--role", "admin", "--json"], tmp_path)
    record = json.loads(as_json.stdout.strip().splitlines()[-1])
    assert record["role"] == "admin" and record["token"].startswith(f"cdk_{record['key_id']}_")
    db = b"".join(p.read_bytes() for p in tmp_path.glob("ledger.db*"))
    assert token.encode() not in db and record["token"].encode() not in db


@pytest.mark.slow
def test_bad_input_exits_2_with_one_line(tmp_path: Path) -> None:
    for args, text in [
        (["keys", "create", "--role", "root"], "role must be one of"),
        (["serve", "--port", "70000"], "--port"),
        (["serve", "--workers", "0"], "--workers"),
        (["keys", "revoke", "000000000000"], "no live key"),
    ]:
        done = run(args, tmp_path)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and text in lines[0]
    bad_pii = run(["pii", "rotate"], tmp_path, CREDITDESK_PII_KEYS="k1:short")
    assert bad_pii.returncode == 2 and "CREDITDESK_PII_KEYS" in bad_pii.stderr


@pytest.mark.slow
def test_decisions_verify_detects_edited_and_deleted_rows(tmp_path: Path) -> None:
    from ledger.journal import DecisionJournal
    from ledger.storage import journal, make_engine
    from margin.storage import migrate

    engine = make_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    migrate(engine)
    book = DecisionJournal(engine)
    for i in range(1, 5):
        book.append(f"d{i}", f"{1000 + i}", {"outcome": "approve", "pd_12m": 0.01 * i})
    engine.dispose()

    intact = run(["decisions", "verify", "--json"], tmp_path)
    assert intact.returncode == 0, intact.stderr
    assert json.loads(intact.stdout.strip().splitlines()[-1]) == {"ok": True, "rows": 4, "breaks": []}

    with engine.begin() as conn:
        conn.execute(sa.update(journal).where(journal.c.seq == 2).values(payload='{"outcome":"decline"}'))
    engine.dispose()
    edited = run(["decisions", "verify", "--json"], tmp_path)
    assert edited.returncode == 1
    report = json.loads(edited.stdout.strip().splitlines()[-1])
    assert report["ok"] is False and [b["seq"] for b in report["breaks"]] == [2]

    with engine.begin() as conn:
        conn.execute(sa.delete(journal).where(journal.c.seq == 4))
    engine.dispose()
    deleted = run(["decisions", "verify"], tmp_path)
    assert deleted.returncode == 1 and "rows deleted" in deleted.stdout
