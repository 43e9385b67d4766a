"""Shared fixtures: every test runs with telemetry off and its runtime output in a temp dir."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import creditdesk

creditdesk.disable_telemetry()

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DIR = Path(os.environ.get("CREDITDESK_SHARED_DIR", REPO_ROOT.parent / "shared"))
DATASETS_DIR = SHARED_DIR / "datasets"


@pytest.fixture
def var_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private ``var/`` for the test, wired through the settings object."""
    from creditdesk.settings import get_settings

    path = tmp_path / "var"
    path.mkdir()
    monkeypatch.setenv("CREDITDESK_VAR_DIR", str(path))
    monkeypatch.setenv("CREDITDESK_SHARED_DIR", str(SHARED_DIR))
    get_settings.cache_clear()
    yield path
    get_settings.cache_clear()


def require_dataset(relative: str) -> Path:
    """Path of a file in ../shared/datasets, or skip the test saying what is missing."""
    path = DATASETS_DIR / relative
    if not path.exists():
        pytest.skip(f"public dataset not present: {path} (see ../shared/datasets/README.md)")
    return path
