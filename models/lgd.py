"""LGD models: two-stage LightGBM, and the baselines it must beat (mean, fractional logit).

Loss given default is a share in [0, 1] with a spike at 0 (cured or fully collateralised:
margin accounts are mostly closed out before the collateral runs out) and a long tail.
Two stages match that shape: P(loss > 0) by a LightGBM classifier, then the loss share
given a loss by a LightGBM regression with the ``cross_entropy`` objective, whose
predictions are bounded in [0, 1] by construction. LGD = P(loss) × E[share | loss].
"""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.linear_model import LogisticRegression
from sklearn.utils import Tags

from creditdesk.errors import InputError
from models.encoding import FrameEncoder
from models.inputs import fit_frame, predict_frame
from models.threads import TRAIN_THREADS

LOSS_THRESHOLD = 1e-6
"""An LGD at or below this counts as "no loss" in the first stage."""


def _shares(y: ArrayLike) -> NDArray[np.float64]:
    arr = np.asarray(y, dtype=np.float64).ravel()
    if arr.size == 0 or not np.all(np.isfinite(arr)) or np.any((arr < 0) | (arr > 1)):
        raise InputError("LGD must be a non-empty array of shares in [0, 1]", field="lgd")
    return arr


def regression_metrics(y: ArrayLike, pred: ArrayLike) -> dict[str, float]:
    """MAE, RMSE and R² (against the mean of ``y``) for the validation pack."""
    y_arr = np.asarray(y, dtype=np.float64)
    p_arr = np.asarray(pred, dtype=np.float64)
    err = p_arr - y_arr
    ss_tot = float(np.sum((y_arr - y_arr.mean()) ** 2))
    return {
        "mae": float(np.mean(np.abs(err))),
        "rmse": float(np.sqrt(np.mean(err**2))),
        "r2": float(1.0 - np.sum(err**2) / ss_tot) if ss_tot > 0 else 0.0,
    }


def two_stage_predict(
    matrix: NDArray[np.float64],
    severity: Any,
    loss: Any | None,
    p_loss_constant: float | None,
    **predict_kw: Any,
) -> NDArray[np.float64]:
    """LGD = P(loss) × E[share | loss], clipped to [0, 1]: the one LGD prediction, used by the
    estimator and by the numpy scorer of a loaded bundle alike."""
    if loss is not None:
        p_loss = np.asarray(loss.predict(matrix, **predict_kw))
    else:
        p_loss = np.full(matrix.shape[0], p_loss_constant)
    return np.clip(p_loss * np.asarray(severity.predict(matrix, **predict_kw)), 0.0, 1.0)


class MeanLGD(RegressorMixin, BaseEstimator):
    """Baseline: every default loses the historical mean share."""

    def fit(self, X: Any, y: ArrayLike) -> MeanLGD:
        self.mean_ = float(_shares(y).mean())
        return self

    def predict(self, X: Any) -> NDArray[np.float64]:
        return np.full(len(X), self.mean_)


class FractionalLogitLGD(RegressorMixin, BaseEstimator):
    """Papke-Wooldridge fractional logit: a logistic regression on a share target.

    Fitted as a weighted logistic regression on each row twice (label 1 with weight
    LGD, label 0 with weight 1 − LGD), which maximises the Bernoulli quasi-likelihood.
    Missing values are filled with the training medians and features standardised;
    categoricals use their integer codes (a baseline, not a contender).
    """

    def __init__(self, *, C: float = 1.0, categorical: list[str] | None = None) -> None:
        self.C = C
        self.categorical = categorical

    def _design(self, X: pd.DataFrame) -> NDArray[np.float64]:
        matrix = self.encoder_.transform(X)
        matrix = np.where(np.isnan(matrix), self.median_, matrix)
        return (matrix - self.center_) / self.scale_

    def fit(self, X: pd.DataFrame, y: ArrayLike) -> FractionalLogitLGD:
        y_arr = _shares(y)
        self.encoder_ = FrameEncoder.fit(X, self.categorical)
        raw = self.encoder_.transform(X)
        median = np.nanmedian(raw, axis=0)
        self.median_ = np.where(np.isnan(median), 0.0, median)
        filled = np.where(np.isnan(raw), self.median_, raw)
        self.center_ = filled.mean(axis=0)
        scale = filled.std(axis=0)
        self.scale_ = np.where(scale > 0, scale, 1.0)
        design = (filled - self.center_) / self.scale_
        n = y_arr.size
        stacked = np.vstack([design, design])
        labels = np.r_[np.ones(n), np.zeros(n)]
        weights = np.r_[y_arr, 1.0 - y_arr]
        keep = weights > 0
        self.model_ = LogisticRegression(C=self.C, max_iter=2000)
        self.model_.fit(stacked[keep], labels[keep], sample_weight=weights[keep])
        return self

    def predict(self, X: pd.DataFrame) -> NDArray[np.float64]:
        return np.asarray(self.model_.predict_proba(self._design(X))[:, 1], dtype=np.float64)


class TwoStageLGD(RegressorMixin, BaseEstimator):
    """P(loss > 0) × E[loss share | loss] with two LightGBM boosters (fixed rounds, small trees).

    Learned state is two native boosters plus an encoder, so the online path applies it
    with ``Booster.predict`` on a numpy row. If every training default lost something
    (or none did), the first stage is the constant observed share.
    """

    def __init__(
        self,
        *,
        n_estimators: int = 300,
        learning_rate: float = 0.03,
        num_leaves: int = 15,
        min_child_samples: int = 40,
        reg_lambda: float = 5.0,
        categorical: list[str] | None = None,
        random_state: int = 42,
        n_jobs: int = TRAIN_THREADS,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.reg_lambda = reg_lambda
        self.categorical = categorical
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _params(self, objective: str) -> dict[str, Any]:
        return {
            "objective": objective,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples,
            "lambda_l2": self.reg_lambda,
            "feature_fraction": 0.8,
            "bagging_fraction": 0.8,
            "bagging_freq": 1,
            "seed": self.random_state,
            "num_threads": self.n_jobs,
            "deterministic": True,
            "force_row_wise": True,
            "verbose": -1,
        }

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # LightGBM sends NaN down each split's learned branch
        return tags

    def fit(self, X: pd.DataFrame, y: ArrayLike) -> TwoStageLGD:
        frame, y_raw = fit_frame(self, X, y, y_numeric=True)
        if len(frame) < 2:
            raise InputError(f"n_samples={len(frame)}: the two stages need at least 2 rows", field="lgd")
        y_arr = _shares(y_raw)
        self.encoder_ = FrameEncoder.fit(frame, self.categorical)
        matrix = self.encoder_.transform(frame)
        cat_idx: Any = self.encoder_.categorical_indices or "auto"
        has_loss = (y_arr > LOSS_THRESHOLD).astype(np.float64)
        self.p_loss_constant_: float | None = None
        self.loss_booster_: lgb.Booster | None = None
        if 0 < has_loss.sum() < has_loss.size:
            data = lgb.Dataset(matrix, label=has_loss, categorical_feature=cat_idx)
            self.loss_booster_ = lgb.train(self._params("binary"), data, self.n_estimators)
        else:
            self.p_loss_constant_ = float(has_loss.mean())
        losses = has_loss == 1
        if not losses.any():
            raise InputError(
                "no default with a positive loss: the severity stage has nothing to learn", field="lgd"
            )
        data = lgb.Dataset(matrix[losses], label=y_arr[losses], categorical_feature=cat_idx)
        self.severity_booster_ = lgb.train(self._params("cross_entropy"), data, self.n_estimators)
        return self

    def predict_from_matrix(self, matrix: NDArray[np.float64]) -> NDArray[np.float64]:
        return two_stage_predict(matrix, self.severity_booster_, self.loss_booster_, self.p_loss_constant_)

    def predict(self, X: pd.DataFrame) -> NDArray[np.float64]:
        frame = predict_frame(self, X)  # first: raises NotFittedError before encoder_ is read
        return self.predict_from_matrix(self.encoder_.transform(frame))
