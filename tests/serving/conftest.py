"""Fixtures of the serving room: an in-process app on a private SQLite database."""

from __future__ import annotations

import copy
import io
import logging
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from features.builders import InstrumentIndex
from features.catalogue import feature_names
from models.master_scale import grade_of
from pricing.policy import load_policy
from serving.runtime import Loaded
from serving.schemas import DecisionRequest

NAMES = feature_names()


@dataclass
class Harness:
    client: Any  # fastapi.testclient.TestClient
    app: Any
    var_dir: Path
    logs: io.StringIO

    def key(self, role: str) -> dict[str, str]:
        from serving.keys import create_key

        created = create_key(self.app.state.services.engine, role)
        return {"Authorization": f"Bearer {created.token}"}

    def log_lines(self) -> list[str]:
        return [line for line in self.logs.getvalue().splitlines() if line.strip()]


@pytest.fixture
def body() -> dict[str, Any]:
    """The OpenAPI example decision request (a fresh copy the test may mutate)."""
    extra: Any = DecisionRequest.model_config["json_schema_extra"]
    result: dict[str, Any] = copy.deepcopy(extra["examples"][0])
    return result


@pytest.fixture
def make_harness(var_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Build an app with env overrides; its JSON log lines are captured in ``logs``."""
    with warnings.catch_warnings():  # starlette nags about httpx vs httpx2; irrelevant here
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    from serving.app import create_app
    from serving.config import ServingSettings
    from serving.db import dispose_engines
    from serving.logs import JsonFormatter, RequestIdFilter

    opened: list[tuple[Any, logging.Handler]] = []

    def build(**env: str) -> Harness:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv(
            "CREDITDESK_LOAD_MODELS_ON_STARTUP", env.get("CREDITDESK_LOAD_MODELS_ON_STARTUP", "false")
        )
        app = create_app(ServingSettings())
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.setFormatter(JsonFormatter())
        handler.addFilter(RequestIdFilter())
        logging.getLogger("serving").addHandler(handler)
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        opened.append((client, handler))
        return Harness(client=client, app=app, var_dir=var_dir, logs=stream)

    yield build
    for client, handler in opened:
        client.__exit__(None, None, None)
        logging.getLogger("serving").removeHandler(handler)
    dispose_engines()


class BoosterChampions:
    """A native booster scoring numpy rows: PD, grade, fixed LGD/CCF, top adverse reasons."""

    def __init__(self, seed: int = 3, rounds: int = 15, noise: bool = True) -> None:
        """``noise=False``: every column but ``bureau_score`` constant, so the score alone decides."""
        import lightgbm as lgb

        rng = np.random.default_rng(seed)
        X = rng.normal(size=(600, len(NAMES))) if noise else np.zeros((600, len(NAMES)))
        score_col = NAMES.index("bureau_score")
        X[:, score_col] = rng.uniform(300, 850, 600)
        y = (rng.uniform(size=600) < 1 / (1 + np.exp((X[:, score_col] - 560) / 60))).astype(int)
        params = {"objective": "binary", "verbose": -1, "num_leaves": 4, "seed": seed, "deterministic": True}
        self.booster = lgb.train(params, lgb.Dataset(X, y), num_boost_round=rounds)
        self.versions = {"pd": "7", "lgd": "fixed-0.4", "ead": "ccf-1"}

    def score(self, X: np.ndarray) -> SimpleNamespace:
        # num_threads=1: one row under OpenMP costs ~6.7 ms on this shared box, ~0.19 ms single-threaded
        pd_12m = np.clip(self.booster.predict(X, num_threads=1), 1e-4, 0.9999)
        contrib = np.asarray(self.booster.predict(X, pred_contrib=True, num_threads=1))[:, :-1]
        reasons = []
        for row in contrib:
            top = [int(j) for j in np.argsort(-row)[:2] if row[j] > 0]
            reasons.append(
                [
                    {
                        "code": f"M_{NAMES[j].upper()}",
                        "feature": NAMES[j],
                        "text": NAMES[j],
                        "contribution": float(row[j]),
                    }
                    for j in top
                ]
            )
        n = X.shape[0]
        return SimpleNamespace(
            pd_12m=pd_12m, grade=grade_of(pd_12m), lgd=np.full(n, 0.4), ccf=np.ones(n), reasons=reasons
        )


def tiny_training_data(seed: int = 5, n: int = 1500) -> Any:
    """Catalogue-shaped rows whose default risk falls with the bureau score, with loss data."""
    from features.catalogue import CATALOGUE_VERSION, get
    from pipelines.training import TrainingData

    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, len(NAMES))), columns=NAMES)
    X["bureau_score"] = rng.uniform(300, 850, n)
    y = (rng.uniform(size=n) < 1 / (1 + np.exp((X["bureau_score"].to_numpy() - 560) / 60))).astype(int)
    defaulted = y == 1
    limit, drawn = np.full(n, 1000.0), rng.uniform(100, 900, n)
    ccf_true = rng.uniform(0.2, 0.6, n)
    return TrainingData(
        name="tiny", X=X, y=y, catalogue_version=CATALOGUE_VERSION,
        monotone={name: get(name).monotone for name in NAMES if get(name).monotone},
        descriptions={name: get(name).description for name in NAMES},
        lgd=np.where(defaulted, rng.uniform(0.05, 0.6, n), np.nan),
        ccf=np.where(defaulted, ccf_true, np.nan),
        drawn=drawn, limit=limit, ead=drawn + ccf_true * (limit - drawn),
        challenger=False,
        instruments=pd.DataFrame(
            {"ticker": ["AAPL", "MSFT", "XYZ"], "sector": ["tech", "tech", "misc"],
             "volatile": [False, False, True], "adv_shares": [5e7, 3e7, 1e4]}
        ),
    )  # fmt: skip


@pytest.fixture(scope="session")
def registered_champion(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A var/ whose MLflow registry holds a tiny real champion (trained, gated, promoted)."""
    from creditdesk.settings import get_settings
    from models.registry import promote
    from pipelines.training import train

    var = tmp_path_factory.mktemp("champion-var")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CREDITDESK_VAR_DIR", str(var))
        for leaked in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
            patch.delenv(leaked, raising=False)
        get_settings.cache_clear()
        try:
            train(tiny_training_data(), progress=lambda _: None)
            assert promote()["promoted"]
        finally:
            get_settings.cache_clear()
    return var


@pytest.fixture(scope="module")
def champions() -> BoosterChampions:
    return BoosterChampions()


@pytest.fixture(scope="session")
def champions_class() -> type[BoosterChampions]:
    """The class itself, for modules that want a champion trained differently."""
    return BoosterChampions


@pytest.fixture
def make_live(make_harness: Any, champions: BoosterChampions) -> Any:
    """``make_live(**env)``: a harness with ``champions`` and the policy loaded (env: e.g. the DB URL)."""
    instruments = InstrumentIndex.from_frame(
        pd.DataFrame(
            {
                "ticker": ["AAPL", "MSFT", "XYZ"],
                "volatile": [False, False, True],
                "adv_shares": [5e7, 3e7, 1e4],
            }
        )
    )
    policy = load_policy()
    versions = {**champions.versions, "policy": policy.version, "policy_hash": policy.policy_hash}

    def build(**env: str) -> Harness:
        h: Harness = make_harness(CREDITDESK_LOAD_MODELS_ON_STARTUP="false", **env)
        h.app.state.services.runtime._loader = lambda: Loaded(champions, policy, versions, instruments)
        h.app.state.services.runtime.load()
        return h

    return build


@pytest.fixture
def live(make_live: Any) -> Any:
    return make_live()
