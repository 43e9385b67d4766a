"""MLflow at scale: a tracking server on PostgreSQL, used by train, promote and the champion load.

The test starts ``mlflow server`` itself, its backend store a private database in the local
PostgreSQL (created and dropped here), its artefacts proxied by the server
(``--serve-artifacts``), and drives the same job functions as the CLI against its URL.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.conftest import PG_URL, postgres_reason


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def private_database() -> Iterator[str]:
    """A fresh database on the local server (MLflow migrates its own tables into it)."""
    import sqlalchemy as sa

    reason = postgres_reason()
    if reason:
        pytest.skip(reason)
    name = f"mlflow_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def mlflow_server(private_database: str, tmp_path: Path) -> Iterator[str]:
    port = _free_port()
    mlflow_bin = Path(sys.executable).parent / "mlflow"
    log = (tmp_path / "server.log").open("w")
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
    proc = subprocess.Popen(
        [str(mlflow_bin), "server", "--backend-store-uri", private_database,
         "--artifacts-destination", str(tmp_path / "artifacts"), "--serve-artifacts",
         "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp_path, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError((tmp_path / "server.log").read_text()[-3000:])
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(1)
        else:
            raise AssertionError("mlflow server did not answer /health within 180 s")
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the server's own process group (its workers)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)
        log.close()


@pytest.mark.slow
def test_train_promote_and_load_through_a_postgres_backed_server(
    mlflow_server: str, var_dir: Path, private_database: str
) -> None:
    import sqlalchemy as sa

    from models.registry import PD_NAME, client, load_champions, promote
    from pipelines.training import train
    from tests.models.test_registry import FAST_BUDGET, _data

    data = _data(7)
    summary = train(data, budget=FAST_BUDGET, tracking_uri=mlflow_server, progress=lambda _: None)
    assert summary["tracking_uri"] == mlflow_server
    assert summary["registered"] == {"creditdesk-pd": 1, "creditdesk-lgd": 1, "creditdesk-ead": 1}
    result = promote(tracking_uri=mlflow_server)
    assert result["promoted"] and result["gate_passed"]
    assert str(client(mlflow_server).get_model_version_by_alias(PD_NAME, "champion").version) == "1"

    champions = load_champions(mlflow_server, cache_dir=var_dir / "cache")
    X = data.X.head(100)
    import mlflow.pyfunc

    served = mlflow.pyfunc.load_model(f"models:/{PD_NAME}@champion").predict(X)
    np.testing.assert_allclose(champions.score(X.to_numpy(), with_reasons=False).pd_12m, np.asarray(served))
    # the registry really lives in PostgreSQL: the versions and the alias are rows there
    engine = sa.create_engine(private_database)
    with engine.connect() as conn:
        names = {r[0] for r in conn.execute(sa.text("select name from model_versions"))}
        aliases = {r[0] for r in conn.execute(sa.text("select alias from registered_model_aliases"))}
    engine.dispose()
    assert names == {"creditdesk-pd", "creditdesk-lgd", "creditdesk-ead"}
    assert {"champion", "challenger"} <= aliases
