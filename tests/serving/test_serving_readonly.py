"""Read-only commands on a read-only snapshot, and the CLI's bad-input paths (exit 2, one line).

Issue 16: ``decisions verify`` on a read-only database printed a 140-line traceback (the WAL
pragma on connect is a write), so an auditor could not verify a snapshot; ``keys create``
on it did the same; ``generate --prices`` and ``score --input`` with a bad parquet file
printed tracebacks. The snapshot here is truly read-only: file 0444 in a 0555 folder, and
when the tests run as root the command runs without CAP_DAC_OVERRIDE (``setpriv``), so the
kernel refuses writes as it would for an auditor's account.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.journal import DecisionJournal
from ledger.storage import make_engine
from margin.storage import migrate
from tests.conftest import REPO_ROOT

CREDITDESK = Path(sys.executable).parent / "creditdesk"
pytestmark = pytest.mark.slow


def run(args: list[str], var_dir: Path, read_only: bool = False) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDITDESK_")}
    env["CREDITDESK_VAR_DIR"] = str(var_dir)
    command = [str(CREDITDESK), *args]
    if read_only and os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: cannot drop the right to write")
        command = ["setpriv", "--bounding-set", "-dac_override", "--inh-caps", "-dac_override", *command]
    return subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)


def one_line_exit_2(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, (done.returncode, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


@pytest.fixture
def snapshot(tmp_path: Path) -> Iterator[Path]:
    """A folder holding a journalled database, made read-only as an auditor receives it."""
    live = tmp_path / "live"
    engine = make_engine(f"sqlite:///{live / 'ledger.db'}")
    migrate(engine)
    journal = DecisionJournal(engine)
    for i in range(3):
        journal.append(f"d{i}", f"a{i}", {"n": i})
    engine.dispose()  # checkpoints the WAL into the main file
    snap = tmp_path / "snap"
    snap.mkdir()
    shutil.copy2(live / "ledger.db", snap / "ledger.db")
    (snap / "ledger.db").chmod(0o444)
    snap.chmod(0o555)
    yield snap
    snap.chmod(0o755)


def test_decisions_verify_works_on_a_read_only_snapshot_and_changes_nothing(snapshot: Path) -> None:
    before = {p.name: p.read_bytes() for p in snapshot.iterdir()}
    done = run(["decisions", "verify", "--json"], snapshot, read_only=True)
    assert done.returncode == 0, done.stderr
    assert '"ok": true' in done.stdout and '"rows": 3' in done.stdout
    assert {p.name: p.read_bytes() for p in snapshot.iterdir()} == before


def test_writing_commands_on_a_read_only_database_exit_2_with_one_line(snapshot: Path) -> None:
    line = one_line_exit_2(run(["keys", "create", "--role", "analyst"], snapshot, read_only=True))
    assert "database" in line and "readonly" in line.replace("-", "").replace(" ", "")


def test_verify_without_a_database_exits_2(tmp_path: Path) -> None:
    assert "no SQLite database" in one_line_exit_2(run(["decisions", "verify"], tmp_path))
    assert not (tmp_path / "ledger.db").exists()


def test_bad_parquet_files_exit_2_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1 this is not a parquet file")
    line = one_line_exit_2(
        run(["generate", "--customers", "5", "--out", str(tmp_path / "pop"), "--prices", str(bad)], tmp_path)
    )
    assert "--prices" in line
    line = one_line_exit_2(
        run(["score", "--input", str(bad), "--output", str(tmp_path / "s.parquet")], tmp_path)
    )
    assert "input" in line
