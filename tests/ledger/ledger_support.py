"""Helpers shared by the ledger tests (imported by name: pytest puts this folder on sys.path)."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

from sqlalchemy import Engine

from ledger.storage import make_engine


def fresh_sqlite(template: Path, directory: Path) -> tuple[Engine, str]:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"ledger-{uuid.uuid4().hex[:8]}.db"
    shutil.copyfile(template, path)
    url = f"sqlite:///{path}"
    return make_engine(url), url
