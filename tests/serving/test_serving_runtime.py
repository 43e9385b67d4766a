"""The model runtime's adapters: single-threaded boosters, column order, instruments, readiness."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from features.builders import InstrumentIndex
from features.catalogue import feature_names
from serving.runtime import (
    NotReady,
    SingleThreadBooster,
    instruments_fingerprint,
    load_instruments,
    model_columns,
    registry_loader,
    single_threaded,
)


@pytest.fixture(scope="module")
def booster() -> object:
    import lightgbm as lgb

    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    y = (X[:, 0] + rng.normal(size=300) > 0).astype(int)
    return lgb.train({"objective": "binary", "verbose": -1, "num_leaves": 4}, lgb.Dataset(X, y), 10)


def test_single_thread_booster_predicts_the_same(booster: object) -> None:
    wrapped = SingleThreadBooster(booster)
    X = np.random.default_rng(1).normal(size=(7, 4))
    np.testing.assert_array_equal(wrapped.predict(X), booster.predict(X))  # type: ignore[attr-defined]
    contrib = wrapped.predict(X, pred_contrib=True)
    np.testing.assert_allclose(contrib.sum(axis=1), booster.predict(X, raw_score=True))  # type: ignore[attr-defined]
    assert wrapped.num_trees() == booster.num_trees()  # type: ignore[attr-defined]


def test_single_threaded_wraps_every_booster_once(booster: object) -> None:
    champions = SimpleNamespace(
        pd=SimpleNamespace(booster=booster), lgd=SimpleNamespace(severity=booster, loss=None)
    )
    assert single_threaded(champions) == 2
    assert isinstance(champions.pd.booster, SingleThreadBooster)
    assert isinstance(champions.lgd.severity, SingleThreadBooster) and champions.lgd.loss is None
    assert single_threaded(champions) == 0  # already wrapped: not wrapped twice


def test_model_columns_map_model_order_onto_the_catalogue() -> None:
    names = feature_names()
    assert model_columns(names) is None and model_columns(None) is None
    picked = [names[5], names[0], names[-1]]
    np.testing.assert_array_equal(model_columns(picked), [5, 0, len(names) - 1])
    with pytest.raises(NotReady, match="not_a_feature"):
        model_columns([names[0], "not_a_feature"])


def test_instrument_master_and_its_fingerprint(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {"ticker": ["B", "A", "C"], "volatile": [False, True, False], "adv_shares": [1e6, 5e6, 1e3]}
    )
    frame.to_parquet(tmp_path / "instruments.parquet")
    loaded = load_instruments(tmp_path / "instruments.parquet")
    assert list(loaded.tickers) == ["A", "B", "C"]
    same = instruments_fingerprint(InstrumentIndex.from_frame(frame))
    assert instruments_fingerprint(loaded) == same and len(same) == 12
    flipped = frame.assign(volatile=[True, True, False])
    assert instruments_fingerprint(InstrumentIndex.from_frame(flipped)) != same
    with pytest.raises(NotReady, match="CREDITDESK_INSTRUMENTS_PATH"):
        load_instruments(tmp_path / "missing.parquet")


@pytest.mark.slow
def test_registry_without_a_champion_is_not_ready(var_dir: Path) -> None:
    load = registry_loader(f"sqlite:///{var_dir / 'empty-mlflow.db'}", var_dir / "instruments.parquet")
    with pytest.raises(NotReady, match="creditdesk-pd@champion"):
        load()
