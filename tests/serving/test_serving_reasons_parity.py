"""Reason codes from TreeSHAP tables, behind a parity gate against LightGBM's native TreeSHAP.

The tables (``models.reasons.TreeShap``) must give what ``Booster.predict(pred_contrib=True)``
gives — every contribution within 1e-9 and the same top-4 adverse reasons — on the model's
validation rows and on rows probing every split; the service uses them only then, and says
in ``/health/ready`` which path it runs. A corrupted precomputation must fail the gate and
leave the service on the native path.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from features.builders import InstrumentIndex
from models.reasons import (
    PARITY_TOLERANCE,
    TabledContribBooster,
    TreeShap,
    probe_rows,
    top_adverse,
    treeshap_parity,
)
from pricing.policy import load_policy
from serving.runtime import bundle, reasons_path

REPO_ROOT = Path(__file__).resolve().parents[2]


def _booster(categorical: bool, seed: int = 4, rounds: int = 80) -> tuple[Any, np.ndarray]:
    """A binary LightGBM with missing values, exact zeros and (optionally) a categorical column."""
    import lightgbm as lgb

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(1500, 9))
    X[rng.uniform(size=X.shape) < 0.1] = np.nan
    X[:, 4] = np.where(rng.uniform(size=1500) < 0.3, 0.0, X[:, 4])
    X[:, 2] = rng.integers(0, 6, size=1500)
    signal = X[:, 0] + np.nan_to_num(X[:, 1]) * X[:, 3] + (X[:, 2] == 3) + np.nan_to_num(X[:, 4])
    y = (signal + rng.normal(size=1500) > 0).astype(float)
    params = {"objective": "binary", "num_leaves": 15, "verbose": -1, "seed": seed, "deterministic": True}
    data = lgb.Dataset(X, y, categorical_feature=[2] if categorical else "auto")
    return lgb.train(params, data, rounds), X


@pytest.mark.parametrize("categorical", [False, True])
def test_tables_equal_native_pred_contrib(categorical: bool) -> None:
    booster, X = _booster(categorical)
    shap = TreeShap(booster)
    for rows in (X[:400], probe_rows(shap)):
        native = booster.predict(rows, pred_contrib=True, num_threads=1)
        fast = shap.contributions(rows)
        assert fast.shape == native.shape
        assert np.max(np.abs(fast - native)) <= PARITY_TOLERANCE
        p = rows.shape[1]
        assert np.array_equal(top_adverse(fast[:, :p]), top_adverse(native[:, :p]))
    verdict = treeshap_parity(shap, booster, X[:400])
    assert verdict.passed and verdict.reasons_equal and verdict.rows == 400


def test_probe_rows_reach_both_sides_and_missing_branches() -> None:
    booster, _ = _booster(categorical=False)
    shap = TreeShap(booster)
    rows = probe_rows(shap)
    left = shap._go_left(rows)
    assert left.any(axis=0).mean() > 0.9 and (~left).any(axis=0).mean() > 0.9
    assert np.isnan(rows).any()


@dataclass
class _PD:
    booster: Any


@dataclass
class _Champions:
    """The two attributes the reasons path reads: the PD scorer's booster, and versions."""

    pd: _PD
    versions: dict[str, str]

    def score(self, X: np.ndarray) -> Any:  # pragma: no cover - not scored here
        raise NotImplementedError


def _instruments() -> InstrumentIndex:
    return InstrumentIndex.from_frame(
        pd.DataFrame({"ticker": ["AAPL", "XYZ"], "volatile": [False, True], "adv_shares": [5e7, 1e4]})
    )


def test_gate_passes_and_scoring_reads_the_tables() -> None:
    booster, X = _booster(categorical=False)
    champions = _Champions(_PD(booster), {"pd": "1"})
    used, how = reasons_path(champions, "auto", X[:300])
    assert how["method"] == "treeshap_table" and how["parity_passed"] is True
    assert "300 validation rows" in how["detail"]
    assert isinstance(used.pd.booster, TabledContribBooster)
    assert champions.pd.booster is booster  # the original is untouched (replay of native decisions)
    got = used.pd.booster.predict(X[:5], pred_contrib=True, num_threads=1)
    assert np.max(np.abs(got - booster.predict(X[:5], pred_contrib=True))) <= PARITY_TOLERANCE
    # scores are not the tables' business: they still come from the booster itself
    raw = used.pd.booster.predict(X[:5], raw_score=True)
    assert np.array_equal(raw, booster.predict(X[:5], raw_score=True))


def test_corrupted_tables_fail_the_gate_and_the_service_says_native(make_harness: Any) -> None:
    booster, X = _booster(categorical=False)
    shap = TreeShap(booster)
    assert shap._arrays is not None
    shap._arrays["table"][::97] += 1e-6  # a corrupted precomputation
    verdict = treeshap_parity(shap, booster, X[:300])
    assert not verdict.passed and verdict.max_abs_diff > PARITY_TOLERANCE
    corrupted = _Champions(_PD(TabledContribBooster(booster, shap)), {"pd": "1"})
    used, how = reasons_path(corrupted, "auto", X[:300])
    assert how["method"] == "native" and how["parity_passed"] is False
    assert used.pd.booster is booster  # back on LightGBM's own TreeSHAP

    h = make_harness()
    policy = load_policy()
    runtime = h.app.state.services.runtime
    runtime._loader = lambda: bundle(corrupted, policy, instruments=_instruments(), parity_rows=X[:300])
    runtime.load()
    ready = h.client.get("/health/ready").json()
    assert ready["status"] == "ready" and ready["fast_reasons"] is False
    assert "max |diff|" in ready["reasons_parity"] and ready["versions"]["reasons"] == "native"

    runtime._loader = lambda: bundle(
        _Champions(_PD(booster), {"pd": "1"}), policy, instruments=_instruments(), parity_rows=X[:300]
    )
    runtime.load()
    ready = h.client.get("/health/ready").json()
    assert ready["fast_reasons"] is True and ready["versions"]["reasons"] == "treeshap_table"


def test_replay_recomputes_the_way_the_decision_recorded() -> None:
    """A decision records ``versions.reasons``; replay asks ``bundle`` for that method."""
    booster, X = _booster(categorical=False)
    tabled = bundle(_Champions(_PD(booster), {"pd": "1"}), load_policy(), instruments=_instruments())
    assert tabled.versions["reasons"] == "treeshap_table"
    native = bundle(tabled.champions, load_policy(), instruments=_instruments(), reasons="native")
    assert native.versions["reasons"] == "native"
    assert not isinstance(native.champions.pd.booster, TabledContribBooster)
    again = bundle(native.champions, load_policy(), instruments=_instruments(), reasons="treeshap_table")
    a = tabled.champions.pd.booster.predict(X[:3], pred_contrib=True)
    b = again.champions.pd.booster.predict(X[:3], pred_contrib=True)
    assert np.array_equal(a, b)  # deterministic: replay is bit for bit


PROBE = """
import json
from fastapi.testclient import TestClient
from serving.app import create_app
from serving.config import ServingSettings
with TestClient(create_app(ServingSettings())) as client:
    client.app.state.services.runtime.load()
    print(json.dumps(client.get("/health/ready").json()))
"""


@pytest.mark.slow
def test_the_registered_champion_passes_the_gate_on_its_validation_rows(registered_champion: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CREDITDESK_", "MLFLOW_"))}
    env.update(CREDITDESK_VAR_DIR=str(registered_champion), CREDITDESK_LOAD_MODELS_ON_STARTUP="false")
    env["CREDITDESK_INSTRUMENTS_PATH"] = ""
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    ready = json.loads(done.stdout.strip().splitlines()[-1])
    assert ready["status"] == "ready", ready
    assert ready["fast_reasons"] is True, ready
    assert "validation rows" in ready["reasons_parity"], ready


@pytest.mark.slow
def test_registration_records_the_parity_gate_on_the_pd_version(registered_champion: Path) -> None:
    from models.registry import PD_NAME, client

    uri = f"sqlite:///{registered_champion / 'mlflow.db'}"
    tags = client(uri).get_model_version(PD_NAME, "1").tags
    assert tags["reasons_treeshap"].startswith("passed: "), tags
    assert "top-4 reasons equal" in tags["reasons_treeshap"]


def test_parity_tags_say_failed_for_a_booster_the_tables_get_wrong(monkeypatch: pytest.MonkeyPatch) -> None:
    from models import reasons

    booster, X = _booster(categorical=False, rounds=20)
    assert reasons.parity_tags(booster, X[:200])["reasons_treeshap"].startswith("passed: ")
    original = reasons._leaf_tables
    monkeypatch.setattr(reasons, "_leaf_tables", lambda zero, value: original(zero, value) * 1.001)
    assert reasons.parity_tags(booster, X[:200])["reasons_treeshap"].startswith("failed: ")
