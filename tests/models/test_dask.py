"""lightgbm.dask on a local 2-worker cluster gives (nearly) the in-process model."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from models import metrics
from models.pd_model import LightGBMPD
from tests.models.helpers import MONOTONE, credit_frame


@pytest.mark.slow
def test_dask_fit_matches_in_process_auc() -> None:
    from dask.distributed import Client, LocalCluster

    X, y = credit_frame(6000, seed=21)
    X = X.drop(columns=["region"])
    X_new, y_new = credit_frame(6000, seed=22)
    X_new = X_new.drop(columns=["region"])
    params: dict[str, Any] = {
        "monotone": MONOTONE,
        "learning_rate": 0.1,
        "n_estimators": 200,
        "early_stopping_rounds": 30,
    }
    local = LightGBMPD(**params).fit(X, y)
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None, processes=True) as cluster,
        Client(cluster) as client,
    ):
        distributed = LightGBMPD(**params).fit_dask(X, y, client, n_estimators=local.best_iteration_)
    auc_local = metrics.auc(y_new, local.predict_pd(X_new))
    auc_dask = metrics.auc(y_new, distributed.predict_pd(X_new))
    assert distributed.best_iteration_ == local.best_iteration_
    assert abs(auc_dask - auc_local) < 0.01, (auc_local, auc_dask)
    # the distributed booster honours the monotone constraints too
    grid = X_new.head(50).copy()
    lo, hi = grid.copy(), grid.copy()
    lo["late_payments"], hi["late_payments"] = 0.0, 5.0
    assert np.all(distributed.predict_pd(hi) >= distributed.predict_pd(lo) - 1e-12)
