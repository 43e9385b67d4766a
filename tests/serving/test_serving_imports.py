"""The serving process stays lean: no Great Expectations, no Evidently, no pyfunc scoring.

Checked in a fresh interpreter (this test process has imported everything under the sun),
after building the app and serving real requests through it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

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
print(json.dumps({
    "statuses": statuses,
    "modules": sorted(m for m in sys.modules if m.split(".")[0] in ("great_expectations", "evidently")),
    "pyfunc_models": [] if loaded is None else [
        type(m).__module__ for m in vars(loaded.champions).values() if "pyfunc" in type(m).__module__
    ] if hasattr(loaded.champions, "__dict__") else [],
}))
"""


@pytest.mark.slow
def test_app_imports_neither_great_expectations_nor_evidently(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDITDESK_")}
    env["CREDITDESK_VAR_DIR"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["statuses"][0] == 200 and report["statuses"][2] == 200
    assert report["modules"] == []
    assert report["pyfunc_models"] == []
