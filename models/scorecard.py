"""Challenger: WoE logistic scorecard (optbinning ``BinningProcess`` + logistic regression).

The model risk committees have read for decades: each feature is cut into bins with
monotone bad rates, each bin carries points, points add up to a score. It is the reference
the gradient-boosted champion must beat on the same splits, and on small data it often
does not. Points are scaled by PDO: ``base_score`` points at good:bad odds ``base_odds``,
and every ``pdo`` points double the odds.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression

from creditdesk.errors import InputError


class _DropHighsImportWarning(logging.Filter):
    """cvxpy (pulled in by optbinning) warns at import that its bundled HiGHS build does not
    load; optbinning's solvers do not need HiGHS, so for users that warning is only noise.
    A filter, not a level: cvxpy resets its logger's level when it is imported."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "importing solver HIGHS" not in record.getMessage()


logging.getLogger("__cvxpy__").addFilter(_DropHighsImportWarning())


class WoEScorecard(ClassifierMixin, BaseEstimator):
    def __init__(
        self,
        *,
        categorical: list[str] | None = None,
        monotone: Mapping[str, int] | None = None,
        max_n_prebins: int = 20,
        min_prebin_size: float = 0.05,
        max_n_bins: int | None = 8,
        min_iv: float = 0.005,
        C: float = 1.0,
        pdo: float = 20.0,
        base_score: float = 600.0,
        base_odds: float = 50.0,
    ) -> None:
        self.categorical = categorical
        self.monotone = monotone
        self.max_n_prebins = max_n_prebins
        self.min_prebin_size = min_prebin_size
        self.max_n_bins = max_n_bins
        self.min_iv = min_iv
        self.C = C
        self.pdo = pdo
        self.base_score = base_score
        self.base_odds = base_odds

    def fit(self, X: pd.DataFrame, y: ArrayLike) -> WoEScorecard:
        from optbinning import BinningProcess, Scorecard

        if not isinstance(X, pd.DataFrame):
            raise InputError("the scorecard needs a DataFrame with column names", field="X")
        y_arr = np.asarray(y, dtype=np.int64).ravel()
        if set(np.unique(y_arr)) != {0, 1}:
            raise InputError("target must contain both 0 (good) and 1 (bad)", field="y")
        names = [str(c) for c in X.columns]
        categorical = [c for c in names if c in set(self.categorical or [])]
        frame = X.copy()
        for col in categorical:
            frame[col] = frame[col].astype(str).where(frame[col].notna())
        # Monotone hints become the bad-rate trend of the bins ("ascending": bad rate rises).
        fit_params: dict[str, dict[str, Any]] = {}
        for name, direction in (self.monotone or {}).items():
            if name in names and name not in categorical and direction:
                fit_params[name] = {"monotonic_trend": "ascending" if direction > 0 else "descending"}
        binning = BinningProcess(
            variable_names=names,
            categorical_variables=categorical or None,
            max_n_prebins=self.max_n_prebins,
            min_prebin_size=self.min_prebin_size,
            max_n_bins=self.max_n_bins,
            selection_criteria={"iv": {"min": self.min_iv}},
            binning_fit_params=fit_params or None,
        )
        self.scorecard_ = Scorecard(
            binning_process=binning,
            estimator=LogisticRegression(C=self.C, max_iter=2000),
            scaling_method="pdo_odds",
            scaling_method_params={
                "pdo": self.pdo,
                "odds": self.base_odds,
                "scorecard_points": self.base_score,
            },
        )
        self.scorecard_.fit(frame, y_arr)
        self.categorical_ = categorical
        self.feature_names_in_ = np.asarray(names, dtype=object)
        self.n_features_in_ = len(names)
        self.classes_ = np.array([0, 1])
        return self

    def _frame(self, X: pd.DataFrame) -> pd.DataFrame:
        frame = X.copy()
        for col in self.categorical_:
            frame[col] = frame[col].astype(str).where(frame[col].notna())
        return frame

    def predict_pd(self, X: pd.DataFrame) -> NDArray[np.float64]:
        return np.asarray(self.scorecard_.predict_proba(self._frame(X))[:, 1], dtype=np.float64)

    def predict_proba(self, X: pd.DataFrame) -> NDArray[np.float64]:
        p = self.predict_pd(X)
        return np.column_stack([1.0 - p, p])

    def predict(self, X: pd.DataFrame) -> NDArray[np.int64]:
        return (self.predict_pd(X) >= 0.5).astype(np.int64)

    def points(self, X: pd.DataFrame) -> NDArray[np.float64]:
        """Scorecard points: higher is safer; ``pdo`` points double the good:bad odds."""
        return np.asarray(self.scorecard_.score(self._frame(X)), dtype=np.float64)

    def table(self) -> pd.DataFrame:
        return self.scorecard_.table(style="summary")
