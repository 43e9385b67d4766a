"""A migrated SQLite service database per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from ledger.storage import make_engine
from margin.storage import migrate


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    eng = make_engine(f"sqlite:///{tmp_path / 'service.db'}")
    migrate(eng)
    yield eng
    eng.dispose()
