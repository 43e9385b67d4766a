"""Alembic builds exactly the schema the code declares, on its own version table, idempotently."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from ledger.storage import VERSION_TABLE, make_engine, metadata, migrate
from tests.conftest import REPO_ROOT


def test_migrated_schema_matches_metadata(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    migrate(engine)
    migrate(engine)  # a second upgrade is a no-op
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        assert compare_metadata(ctx, metadata) == []
        # 0003 ledger clock; 0002, 0004 and 0005 moved to the margin chain (no-ops here)
        assert ctx.get_current_revision() == "0005"
    tables = inspect(engine).get_table_names()
    assert VERSION_TABLE in tables
    assert not [t for t in tables if t.startswith("margin_")]  # the ledger is margin-agnostic


def test_alembic_command_line_uses_the_configured_url(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    env = {"CREDITDESK_DB_URL": url, "PATH": "/usr/bin:/bin"}
    alembic = Path(sys.executable).with_name("alembic")
    done = subprocess.run(
        [str(alembic), "-c", str(REPO_ROOT / "alembic.ini"), "upgrade", "head"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "ledger_transfers" in inspect(make_engine(url)).get_table_names()
