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
from dataclasses import dataclass
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


class SignedLogisticRegression(LogisticRegression):
    """Logistic regression on WoE columns whose weights are never positive.

    optbinning's WoE rises with a bin's share of goods, so a column's weight on the bad
    log-odds must be <= 0; a positive one (collinear columns: on the generated population
    ``inquiries_6m``, ``thin_file``, ``turnover_12m_to_assets``) makes the PD fall where that
    feature's bad rate rises. Such columns are zeroed and the rest refitted, repeatedly,
    which is what a scorecard analyst does by hand; a zeroed column's weight is exactly 0.
    """

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> SignedLogisticRegression:
        keep = np.ones(np.shape(X)[1], dtype=bool)
        for _ in range(keep.size + 1):
            # multiply, not rebuild: a DataFrame keeps its column names (predict checks them)
            super().fit(X * keep.astype(np.float64), y, sample_weight=sample_weight)
            wrong = keep & (self.coef_.ravel() > 0.0)
            if not wrong.any():
                break
            keep &= ~wrong
        self.coef_[:, ~keep] = 0.0
        return self


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
            estimator=SignedLogisticRegression(C=self.C, max_iter=2000),
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


@dataclass(frozen=True)
class LinearWoE:
    """A fitted scorecard as plain numbers: log-odds = intercept + Σ coef_j · WoE_j(x_j).

    Applied with numpy on the same float matrix as the booster (``FrameEncoder`` order:
    categoricals as integer codes, NaN for missing or unseen), so the online path can score
    a scorecard, or a blend that contains one, without optbinning or pandas. Numeric bins
    are [edge_i, edge_i+1) as in optbinning; a categorical's table has one WoE per level code.
    ``centre`` is each feature's mean contribution on the training rows: contributions are
    reported against it, as TreeSHAP values are against the expected value.
    """

    intercept: float
    coef: tuple[float, ...]
    edges: tuple[tuple[float, ...] | None, ...]  # None for a categorical feature
    woe: tuple[tuple[float, ...], ...]  # per bin (numeric) or per level code (categorical)
    woe_missing: tuple[float, ...]
    centre: tuple[float, ...]

    def _woe(self, matrix: NDArray[np.float64]) -> NDArray[np.float64]:
        out = np.empty_like(matrix, dtype=np.float64)
        for j, table in enumerate(self.woe):
            col = matrix[:, j]
            missing = np.isnan(col)
            values = np.asarray(table, dtype=np.float64)
            edges = self.edges[j]
            if edges is None:
                idx = np.where(missing, 0, col).astype(np.int64)
                ok = ~missing & (idx >= 0) & (idx < values.size)
                out[:, j] = np.where(ok, values[np.clip(idx, 0, values.size - 1)], self.woe_missing[j])
            else:
                idx = np.searchsorted(
                    np.asarray(edges, dtype=np.float64), np.where(missing, 0, col), side="right"
                )
                out[:, j] = np.where(missing, self.woe_missing[j], values[idx])
        return out

    def contributions(self, matrix: NDArray[np.float64]) -> NDArray[np.float64]:
        """Per-feature log-odds contributions against the training mean (n, p)."""
        return self._woe(np.atleast_2d(matrix)) * np.asarray(self.coef) - np.asarray(self.centre)

    def logit(self, matrix: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.asarray(self._woe(np.atleast_2d(matrix)) @ np.asarray(self.coef) + self.intercept)

    def to_dict(self) -> dict[str, Any]:
        return {
            "intercept": self.intercept,
            "coef": list(self.coef),
            "edges": [None if e is None else list(e) for e in self.edges],
            "woe": [list(w) for w in self.woe],
            "woe_missing": list(self.woe_missing),
            "centre": list(self.centre),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LinearWoE:
        return cls(
            intercept=float(data["intercept"]),
            coef=tuple(float(v) for v in data["coef"]),
            edges=tuple(None if e is None else tuple(float(v) for v in e) for e in data["edges"]),
            woe=tuple(tuple(float(v) for v in w) for w in data["woe"]),
            woe_missing=tuple(float(v) for v in data["woe_missing"]),
            centre=tuple(float(v) for v in data["centre"]),
        )


def linear_woe(
    scorecard: WoEScorecard,
    feature_names: list[str],
    categories: Mapping[str, list[str]],
    matrix: NDArray[np.float64],
) -> LinearWoE:
    """The numpy form of a fitted ``WoEScorecard`` over the encoder's columns.

    ``categories`` are the encoder's level lists (code i = level i); ``matrix`` is the
    encoded training data, used only for the contribution centres. Features the binning
    process dropped (IV below ``min_iv``) get coefficient 0.
    """
    card = scorecard.scorecard_
    process = card.binning_process_
    selected = [str(n) for n in process.get_support(names=True)]
    coef_of = dict(zip(selected, card.estimator_.coef_.ravel().tolist(), strict=True))
    edges: list[tuple[float, ...] | None] = []
    woe: list[tuple[float, ...]] = []
    missing: list[float] = []
    for name in feature_names:
        binning = process.get_binned_variable(name)
        if name in categories:
            levels = np.asarray(categories[name], dtype=object)
            values = binning.transform(levels, metric="woe") if levels.size else np.zeros(0)
            edges.append(None)
        else:
            splits = np.asarray(binning.splits, dtype=np.float64)
            reps = np.r_[splits[:1] - 1.0, splits] if splits.size else np.zeros(1)
            values = binning.transform(reps, metric="woe")
            edges.append(tuple(float(v) for v in splits))
        woe.append(tuple(float(v) for v in np.asarray(values, dtype=np.float64)))
        nan_input = np.array([np.nan], dtype=object if name in categories else np.float64)
        missing.append(float(np.asarray(binning.transform(nan_input, metric="woe"), dtype=np.float64)[0]))
    coef = tuple(float(coef_of.get(n, 0.0)) for n in feature_names)
    partial = LinearWoE(float(card.estimator_.intercept_[0]), coef, tuple(edges), tuple(woe), tuple(missing),
                        tuple(0.0 for _ in feature_names))  # fmt: skip
    centre = tuple(float(v) for v in (partial._woe(matrix) * np.asarray(coef)).mean(axis=0))
    return LinearWoE(partial.intercept, coef, partial.edges, partial.woe, partial.woe_missing, centre)
