"""Fresh databases for ledger tests: a migrated SQLite file per test, a fresh PostgreSQL schema."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from ledger.storage import make_engine, migrate
from tests.ledger.ledger_support import fresh_sqlite


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite file migrated by Alembic; tests copy it instead of migrating again."""
    path = tmp_path_factory.mktemp("template") / "ledger.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    engine.dispose()  # closing the last connection checkpoints the WAL into the main file
    assert not path.with_name(path.name + "-wal").exists()
    return path


@pytest.fixture
def engine(migrated_template: Path, tmp_path: Path) -> Iterator[Engine]:
    eng, _ = fresh_sqlite(migrated_template, tmp_path)
    yield eng
    eng.dispose()


@pytest.fixture
def pg_url(pg_schema_url: str) -> str:
    """A fresh private PostgreSQL schema (``tests/conftest.py``), migrated."""
    eng = make_engine(pg_schema_url)
    migrate(eng)
    eng.dispose()
    return pg_schema_url
