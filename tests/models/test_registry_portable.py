"""Registered pyfuncs carry their code and requirements: they load where this repository is absent."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from pipelines.training import train
from tests.conftest import REPO_ROOT
from tests.models.test_registry import FAST_BUDGET, _data

# A fresh interpreter that cannot see the repository: no PYTHONPATH, the editable-install
# finder removed, every path entry under the repository dropped, started outside it.
FRESH_LOAD = """
import json, sys
repo = sys.argv[1]
sys.meta_path = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
# keep the venv's own paths: a fresh clone's .venv lives inside the repository
sys.path = [p for p in sys.path if p and (p.startswith(sys.prefix) or not p.startswith(repo))]
import mlflow.pyfunc, pandas as pd
assert "models" not in sys.modules
model = mlflow.pyfunc.load_model("models:/creditdesk-pd@champion")
import models
requirements = open(mlflow.pyfunc.get_model_dependencies("models:/creditdesk-pd@champion")).read()
print(json.dumps({"pd": [float(v) for v in model.predict(pd.read_parquet(sys.argv[2]))],
                  "models_file": models.__file__, "requirements": requirements.split()}), flush=True)
import os
os._exit(0)  # skip interpreter teardown: a busy box once aborted there in a native library's atexit
"""


def _env(var_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(
        {"MLFLOW_TRACKING_URI": f"sqlite:///{var_dir / 'mlflow.db'}", "CREDITDESK_VAR_DIR": str(var_dir)}
    )
    # `mlflow models serve` execs `uvicorn` by name: the venv's bin must be on PATH even when
    # the caller (make test) runs the venv's python without activating it.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.fixture(scope="module")
def champion(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray, Path, Path]:
    from models.registry import load_champions, promote

    var_dir = tmp_path_factory.mktemp("var")
    old = os.environ.get("CREDITDESK_VAR_DIR")
    os.environ["CREDITDESK_VAR_DIR"] = str(var_dir)
    from creditdesk.settings import get_settings

    get_settings.cache_clear()
    try:
        data = _data(21)
        uri = f"sqlite:///{var_dir / 'mlflow.db'}"
        summary = train(data, budget=FAST_BUDGET, tracking_uri=uri, progress=lambda _: None)
        assert promote(tracking_uri=uri)["promoted"]
        X = data.X.head(50)
        expected = load_champions(uri).score(X.to_numpy(dtype=np.float64), with_reasons=False).pd_12m
    finally:
        if old is None:
            os.environ.pop("CREDITDESK_VAR_DIR", None)
        else:
            os.environ["CREDITDESK_VAR_DIR"] = old
        get_settings.cache_clear()
    rows = var_dir / "rows.parquet"
    X.to_parquet(rows)
    return var_dir, expected, rows, Path(summary["out_dir"])


@pytest.mark.slow
def test_champion_loads_without_the_repository(
    champion: tuple[Path, np.ndarray, Path, Path], tmp_path: Path
) -> None:
    var_dir, expected, rows, _ = champion
    result = subprocess.run(
        [sys.executable, "-c", FRESH_LOAD, str(REPO_ROOT.resolve()), str(rows)],
        cwd=tmp_path, env=_env(var_dir), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert not out["models_file"].startswith(str(REPO_ROOT.resolve()))  # the artefact's own copy
    assert "/code/models/" in out["models_file"]
    np.testing.assert_allclose(out["pd"], expected, rtol=1e-12)
    pinned = {line.split("==")[0] for line in out["requirements"] if "==" in line}
    assert {"lightgbm", "numpy", "pandas", "scikit-learn", "scipy", "pyarrow", "mlflow"} <= pinned


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_mlflow_models_serve_answers(champion: tuple[Path, np.ndarray, Path, Path], tmp_path: Path) -> None:
    import pandas as pd

    var_dir, expected, rows, _ = champion
    port = _free_port()
    mlflow_bin = str(Path(sys.executable).parent / "mlflow")
    proc = subprocess.Popen(
        [mlflow_bin, "models", "serve", "-m", "models:/creditdesk-pd@champion", "--env-manager", "local",
         "-h", "127.0.0.1", "-p", str(port), "-w", "1"],
        cwd=tmp_path, env=_env(var_dir), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        frame = pd.read_parquet(rows)
        body = json.dumps(
            {"dataframe_split": json.loads(frame.to_json(orient="split", index=False))}
        ).encode()
        answer = None
        deadline = time.monotonic() + 180
        while answer is None and time.monotonic() < deadline:
            assert proc.poll() is None, (proc.stderr.read() if proc.stderr else b"").decode()[-2000:]
            try:
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}/invocations",
                    data=body,
                    headers={"Content-Type": "application/json"},
                )
                with urllib.request.urlopen(request, timeout=10) as response:
                    answer = json.loads(response.read())
            except OSError:
                time.sleep(1.0)
        assert answer is not None, "mlflow models serve did not answer within 180 s"
        np.testing.assert_allclose(answer["predictions"], expected, rtol=1e-9)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


CHROMIUM = Path("/usr/bin/chromium")


@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"needs Debian's chromium at {CHROMIUM}")
def test_validation_report_opens_in_a_browser_with_every_section(
    champion: tuple[Path, np.ndarray, Path, Path], tmp_path: Path
) -> None:
    from models.validation_report import SECTIONS

    report = champion[3] / "validation_report" / "report.html"
    result = subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", report.resolve().as_uri()],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    dom = result.stdout
    assert "<h1>Validation report" in dom, result.stderr[-2000:]
    for key in SECTIONS:
        assert f'<section id="{key}"><h2>' in dom, key
    assert dom.count('src="data:image/png;base64,') >= 3  # ROC, calibration, score distribution
    assert 'id="verdict"' in dom


@pytest.mark.slow
def test_promote_refuses_a_version_without_a_validation_report(
    champion: tuple[Path, np.ndarray, Path, Path],
) -> None:
    import mlflow

    from creditdesk.errors import InputError
    from models.registry import PD_NAME, promote, register_bundles, use_tracking

    var_dir, _, rows, out_dir = champion
    uri = f"sqlite:///{var_dir / 'mlflow.db'}"
    use_tracking(uri)
    example = __import__("pandas").read_parquet(rows).head(5)
    with mlflow.start_run(run_name="no-report"):  # the same bundles, logged without their report
        versions = register_bundles(pd_dir=out_dir / "pd", lgd_dir=out_dir / "lgd", ead_dir=out_dir / "ead",
                                    pd_example=example, lgd_example=example)  # fmt: skip
    with pytest.raises(InputError, match="validation report") as info:
        promote(version=versions[PD_NAME], force=True, reason="even forced", tracking_uri=uri)
    assert info.value.field == "version"
