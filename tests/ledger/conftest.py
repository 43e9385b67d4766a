"""Fresh databases for ledger tests: a migrated SQLite file per test, a fresh PostgreSQL schema."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from ledger_support import fresh_sqlite
from sqlalchemy import Engine, text

from ledger.storage import make_engine, migrate

PG_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"


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


def postgres_available() -> str | None:
    """None if the local server answers, else the reason it cannot be used."""
    try:
        eng = make_engine(PG_URL, connect_args={"connect_timeout": 3})
        with eng.connect() as conn:
            conn.execute(text("select 1"))
        eng.dispose()
        return None
    except Exception as exc:
        return f"no PostgreSQL server at {PG_URL}: {type(exc).__name__}: {str(exc).splitlines()[0]}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """URL of a fresh, migrated schema in the local PostgreSQL ``test`` database; dropped afterwards."""
    reason = postgres_available()
    if reason:
        pytest.skip(reason)
    schema = f"t_ledger_{uuid.uuid4().hex[:12]}"
    admin = make_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    eng = make_engine(url)
    migrate(eng)
    eng.dispose()
    yield url
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()
