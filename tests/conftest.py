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
    # mlflow.set_tracking_uri also exports MLFLOW_TRACKING_URI / MLFLOW_REGISTRY_URI, so an
    # earlier in-process training would otherwise point this test at that test's registry.
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    get_settings.cache_clear()
    yield path
    get_settings.cache_clear()


PG_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"


def postgres_reason() -> str | None:
    """None when the local PostgreSQL server answers, else why it cannot be used."""
    import sqlalchemy as sa

    engine = sa.create_engine(PG_URL, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        return None
    except Exception as exc:
        return f"no PostgreSQL server at {PG_URL}: {type(exc).__name__}: {str(exc).splitlines()[0]}"
    finally:
        engine.dispose()


@pytest.fixture
def pg_schema_url() -> Iterator[str]:
    """URL of a fresh private schema in the local ``test`` database (parallel runs never
    collide), dropped afterwards; the test skips with the reason when there is no server."""
    import uuid

    import sqlalchemy as sa

    reason = postgres_reason()
    if reason:
        pytest.skip(reason)
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def require_dataset(relative: str) -> Path:
    """Path of a file in ../shared/datasets, or skip the test saying what is missing."""
    path = DATASETS_DIR / relative
    if not path.exists():
        pytest.skip(f"public dataset not present: {path} (see ../shared/datasets/README.md)")
    return path


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``creditdesk ARGS`` in process: exit code, stdout, stderr (the one in-process CLI runner)."""
    from pipelines.cli import main

    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err
