"""Fixtures of the serving room: an in-process app on a private SQLite database."""

from __future__ import annotations

import copy
import io
import logging
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from features.builders import InstrumentIndex
from features.catalogue import feature_names
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


def tiny_training_data(seed: int = 5, n: int = 1500) -> Any:
    """Catalogue-shaped rows whose default risk falls with the bureau score (the only column
    that varies, so the outcome of a request is fixed by its score), with loss data."""
    from features.catalogue import CATALOGUE_VERSION, get
    from pipelines.training import TrainingData

    rng = np.random.default_rng(seed)
    X = pd.DataFrame(np.zeros((n, len(NAMES))), columns=NAMES)
    X["bureau_score"] = rng.uniform(300, 850, n)
    # three risk bands, so every grade the model uses holds many rows (a grade with one or two
    # test rows gets a margin of conservatism of ~0.35 and would decline everyone)
    band_pd = np.select([X["bureau_score"] < 560, X["bureau_score"] < 700], [0.45, 0.06], 0.004)
    y = (rng.uniform(size=n) < band_pd).astype(int)
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


def _trained_var(tmp_path_factory: pytest.TempPathFactory, seed: int) -> Path:
    """A var/ whose MLflow registry holds a tiny real champion (trained, gated, promoted).

    Trained once per test session, not once per xdist worker: the workers share the parent
    of their base temp folders, and a file lock lets the first one train while the others wait.
    """
    from filelock import FileLock

    from creditdesk.settings import get_settings
    from models.registry import promote
    from pipelines.training import train

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    var = root / f"champion-var-{seed}"
    with FileLock(str(var) + ".lock"):
        if (var / ".trained").exists():
            return var
        var.mkdir(exist_ok=True)
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("CREDITDESK_VAR_DIR", str(var))
            for leaked in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
                patch.delenv(leaked, raising=False)
            get_settings.cache_clear()
            try:
                train(tiny_training_data(seed=seed), progress=lambda _: None)
                assert promote()["promoted"]
            finally:
                get_settings.cache_clear()
        (var / ".trained").touch()
    return var


def _load(var: Path, cache: Path) -> Any:
    """The promoted champion of ``var`` as the serving process loads it (a ``ChampionSet``)."""
    from models.registry import load_champions

    return load_champions(tracking_uri=f"sqlite:///{var / 'mlflow.db'}", cache_dir=cache)


@pytest.fixture(scope="session")
def registered_champion(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A var/ whose registry holds the tiny real champion (see ``_trained_var``)."""
    return _trained_var(tmp_path_factory, seed=5)


@pytest.fixture(scope="session")
def champions(registered_champion: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The tiny real champion, loaded from the registry: PD, LGD and EAD version 1."""
    return _load(registered_champion, tmp_path_factory.mktemp("model-cache"))


@pytest.fixture(scope="session")
def newer_champions(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A second real champion trained on other rows (seed 6): a later registry version's stand-in."""
    return _load(_trained_var(tmp_path_factory, seed=6), tmp_path_factory.mktemp("model-cache-newer"))


@pytest.fixture
def make_live(make_harness: Any, champions: Any) -> Any:
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
