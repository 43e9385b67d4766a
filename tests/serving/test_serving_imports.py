"""The serving process stays lean: no Great Expectations, no Evidently, no pyfunc scoring.

Checked in a fresh interpreter (this test process has imported everything under the sun),
after loading a real registered champion and serving real requests through the app.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

PROBE = r"""
import json, sys, warnings
warnings.simplefilter("ignore")
from fastapi.testclient import TestClient
from serving.app import create_app
from serving.config import ServingSettings
app = create_app(ServingSettings())
with TestClient(app) as client:
    app.state.load_thread.join(timeout=120)
    statuses = [client.get(p).status_code for p in ("/health/live", "/health/ready", "/metrics")]
loaded = app.state.services.runtime.current
kind = None if loaded is None else type(loaded.champions)
print(json.dumps({
    "statuses": statuses,
    "modules": sorted(m for m in sys.modules if m.split(".")[0] in ("great_expectations", "evidently")),
    "champions": None if kind is None else f"{kind.__module__}.{kind.__name__}",
    "versions": None if loaded is None else loaded.versions,
    "pyfunc_modules": sorted(m for m in sys.modules if m == "models.pyfunc" or m.startswith("mlflow.pyfunc")),
}))
"""


@pytest.mark.slow
def test_app_imports_neither_great_expectations_nor_evidently_nor_pyfunc(registered_champion: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CREDITDESK_", "MLFLOW_"))}
    env["CREDITDESK_VAR_DIR"] = str(registered_champion)
    env["CREDITDESK_INSTRUMENTS_PATH"] = ""
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["statuses"] == [200, 200, 200], report  # ready: the champion loaded
    assert report["champions"] == "models.bundle.ChampionSet" and report["versions"]["pd"] == "1"
    assert report["modules"] == []
    assert report["pyfunc_modules"] == []
