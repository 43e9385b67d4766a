"""PD model selection inside the fit: tuned LightGBM, WoE scorecard, or a blend of both.

Which model wins depends on the data (on 1,000 German applicants the scorecard beats
gradient boosting; on 150,000 GMSC rows the reverse), so the product does not guess: it
fits every candidate on inner folds of the *training* rows, scores each out of fold, and
keeps the one with the best out-of-fold AUC. Whoever reports a test AUC (an outer fold, an
out-of-time period) never took part in the choice: the selection is nested by construction.

Candidates:
- ``lightgbm``: monotone LightGBM, hyper-parameters tuned by Optuna (TPE, seeded) within a
  trial and a time budget; each trial is scored by inner-CV AUC; the defaults are the first
  trial, so tuning can only match or beat them in the inner CV. Calibrated on the OOF margins.
- ``scorecard``: the optbinning WoE + logistic regression scorecard.
- ``blend``: a logistic stack on the two OOF log-odds (LightGBM raw margin, scorecard
  logit); its own OOF AUC comes from cross-validating the stack on the same folds. The stack
  is also the blend's calibration.

The fitted selector exposes the chosen model's ``predict_pd`` and every candidate's PD, and
``pd_parts`` gives the pieces the numpy bundle stores (booster, calibration, WoE table, stack).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator, ClassifierMixin

from creditdesk.errors import InputError
from models import metrics
from models.pd_model import LightGBMPD, _as_frame, _binary
from models.scorecard import LinearWoE, WoEScorecard, linear_woe
from models.threads import TRAIN_THREADS

CANDIDATES = ("lightgbm", "scorecard", "blend")
PD_CLIP = 1e-6


def _logit(p: NDArray[np.float64]) -> NDArray[np.float64]:
    q = np.clip(p, PD_CLIP, 1.0 - PD_CLIP)
    return np.asarray(np.log(q / (1.0 - q)))


def _sigmoid(z: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.asarray(1.0 / (1.0 + np.exp(-z)))


@dataclass(frozen=True)
class Budget:
    """How much tuning a fit may spend: at most ``trials`` Optuna trials and ``seconds``."""

    trials: int = 10
    seconds: float = 40.0

    def __post_init__(self) -> None:
        if self.trials <= 0:
            raise InputError(f"budget trials must be > 0, got {self.trials}", field="budget_trials")
        if not self.seconds > 0:
            raise InputError(f"budget seconds must be > 0, got {self.seconds}", field="budget_seconds")


@dataclass(frozen=True)
class Stack:
    """Blend log-odds = a_lgb · LightGBM margin + a_woe · scorecard logit + intercept."""

    a_lgb: float
    a_woe: float
    intercept: float

    def apply(self, lgb_raw: NDArray[np.float64], woe_logit: NDArray[np.float64]) -> NDArray[np.float64]:
        return self.a_lgb * lgb_raw + self.a_woe * woe_logit + self.intercept

    def to_dict(self) -> dict[str, float]:
        return {"a_lgb": self.a_lgb, "a_woe": self.a_woe, "intercept": self.intercept}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Stack:
        return cls(float(data["a_lgb"]), float(data["a_woe"]), float(data["intercept"]))


def fit_stack(lgb_raw: NDArray[np.float64], woe_logit: NDArray[np.float64], y: NDArray[np.float64]) -> Stack:
    """Logistic stack with **non-negative** weights (bounded L-BFGS on the log loss).

    Both inputs are risk scores: a negative weight would rank one candidate's riskier
    applicants as safer. An unconstrained fit gives one on collinear inputs (German: the
    LightGBM margin got -0.06), so the blend was not monotone in its inputs, and with the
    final booster's margins (wider than the out-of-fold ones the stack saw) could invert.
    """
    from scipy.optimize import minimize

    features = np.column_stack([lgb_raw, woe_logit, np.ones(y.size)])
    sign = 2.0 * np.asarray(y, dtype=np.float64) - 1.0

    def loss(w: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
        z = sign * (features @ w)
        value = float(np.mean(np.logaddexp(0.0, -z)))
        grad = -(features * (sign * _sigmoid(-z))[:, None]).mean(axis=0)
        return value, np.asarray(grad)

    prior = _logit(np.array([max(float(np.mean(y)), PD_CLIP)]))[0]
    start = np.array([0.5, 0.5, prior])
    bounds = [(0.0, None), (0.0, None), (None, None)]
    found = minimize(loss, start, jac=True, method="L-BFGS-B", bounds=bounds)
    a_lgb, a_woe, intercept = (float(v) for v in found.x)
    return Stack(max(a_lgb, 0.0), max(a_woe, 0.0), intercept)


def stack_oof(
    lgb_raw: NDArray[np.float64], woe_logit: NDArray[np.float64], y: NDArray[np.float64], folds: list[Any]
) -> NDArray[np.float64]:
    """The blend's own out-of-fold PD: the stack refitted without each fold, applied to it."""
    out = np.empty(y.size)
    for tr, va in folds:
        stack = fit_stack(lgb_raw[tr], woe_logit[tr], y[tr])
        out[va] = _sigmoid(stack.apply(lgb_raw[va], woe_logit[va]))
    return out


def _trial_params(trial: Any) -> dict[str, Any]:
    return {
        "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.1, log=True),
        "num_leaves": trial.suggest_int("num_leaves", 4, 63, log=True),
        "min_child_samples": trial.suggest_int("min_child_samples", 10, 400, log=True),
        "colsample_bytree": trial.suggest_float("colsample_bytree", 0.3, 1.0),
        "subsample": trial.suggest_float("subsample", 0.5, 1.0),
        "reg_lambda": trial.suggest_float("reg_lambda", 0.01, 50.0, log=True),
    }


DEFAULT_TRIAL = {"learning_rate": 0.05, "num_leaves": 15, "min_child_samples": 50,
                 "colsample_bytree": 0.7, "subsample": 0.8, "reg_lambda": 5.0}  # fmt: skip
"""The first trial: LightGBMPD's defaults (at a tuning-friendly learning rate)."""


def tune_lightgbm(
    frame: pd.DataFrame, y: NDArray[np.float64], base: Mapping[str, Any], budget: Budget, seed: int
) -> tuple[LightGBMPD, dict[str, Any]]:
    """Optuna over LightGBM's main knobs, each trial scored by inner-CV AUC; returns the best
    model refitted on every row (calibrated on its OOF margins) and a summary of the study."""
    import optuna

    optuna.logging.set_verbosity(logging.WARNING)
    results: dict[int, tuple[NDArray[np.float64], int, dict[str, Any]]] = {}

    def objective(trial: Any) -> float:
        params = {**_trial_params(trial), **base, "validation": "cv"}  # fixed params win
        oof, best = LightGBMPD(**params).cv_margins(frame, y)
        results[trial.number] = (oof, best, params)
        return metrics.auc(y, oof)

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.enqueue_trial(DEFAULT_TRIAL)
    started = time.perf_counter()
    study.optimize(objective, n_trials=budget.trials, timeout=budget.seconds)
    oof, best_iteration, params = results[study.best_trial.number]
    model = LightGBMPD(**params).fit_with_margins(frame, y, oof, best_iteration)
    summary = {
        "trials": len(study.trials),
        "seconds": round(time.perf_counter() - started, 1),
        "best_inner_auc": float(study.best_value),
        "default_inner_auc": float(study.trials[0].value or np.nan),
        "best_params": {k: v for k, v in study.best_trial.params.items()},
        "best_iteration": best_iteration,
    }
    return model, summary


class SelectedPD(ClassifierMixin, BaseEstimator):
    """Fits the candidates on inner folds of the training rows and keeps the best by OOF AUC.

    After ``fit``: ``choice_`` (one of ``candidates``), ``inner_auc_`` and ``inner_brier_``
    per candidate, ``tuning_`` (the Optuna summary), and the fitted parts ``lightgbm_``,
    ``scorecard_``, ``woe_`` (numpy form), ``stack_``. Every fitted candidate is kept, so a
    benchmark can score each of them on the outer fold too. ``lgb_params`` are fixed
    LightGBM parameters (not tuned); ``oof_pd_`` is the chosen model's inner OOF PD.
    """

    def __init__(
        self,
        *,
        monotone: Mapping[str, int] | None = None,
        categorical: list[str] | None = None,
        candidates: tuple[str, ...] = CANDIDATES,
        inner_folds: int = 4,
        trials: int = 10,
        seconds: float = 40.0,
        random_state: int = 42,
        n_jobs: int = TRAIN_THREADS,
        lgb_params: Mapping[str, Any] | None = None,
    ) -> None:
        self.monotone = monotone
        self.categorical = categorical
        self.candidates = candidates
        self.inner_folds = inner_folds
        self.trials = trials
        self.seconds = seconds
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.lgb_params = lgb_params

    def _base(self) -> dict[str, Any]:
        base: dict[str, Any] = {"monotone": self.monotone, "categorical": self.categorical,
                                "cv_folds": self.inner_folds, "random_state": self.random_state,
                                "n_jobs": self.n_jobs}  # fmt: skip
        base.update(self.lgb_params or {})
        return base

    def _scorecard_oof(
        self, frame: pd.DataFrame, y: NDArray[np.float64], folds: list[Any]
    ) -> NDArray[np.float64]:
        oof = np.empty(y.size)
        for tr, va in folds:
            card = WoEScorecard(categorical=self.categorical, monotone=self.monotone)
            oof[va] = card.fit(frame.iloc[tr], y[tr]).predict_pd(frame.iloc[va])
        return oof

    def fit(self, X: Any, y: ArrayLike) -> SelectedPD:
        unknown = sorted(set(self.candidates) - set(CANDIDATES))
        if unknown or not self.candidates:
            raise InputError(f"candidates must be among {', '.join(CANDIDATES)}", field="candidates")
        budget = Budget(self.trials, self.seconds)
        frame, y_arr = _as_frame(X), _binary(y)
        self.lightgbm_, self.tuning_ = tune_lightgbm(frame, y_arr, self._base(), budget, self.random_state)
        folds = self.lightgbm_.cv_splits(y_arr)
        oof: dict[str, NDArray[np.float64]] = {
            "lightgbm": self.lightgbm_.calibration_.apply(self.lightgbm_.oof_raw_)
        }
        self.scorecard_: WoEScorecard | None = None
        self.woe_: LinearWoE | None = None
        self.stack_: Stack | None = None
        if {"scorecard", "blend"} & set(self.candidates):
            oof["scorecard"] = self._scorecard_oof(frame, y_arr, folds)
            self.scorecard_ = WoEScorecard(categorical=self.categorical, monotone=self.monotone).fit(
                frame, y_arr
            )
            encoder = self.lightgbm_.encoder_
            self.woe_ = linear_woe(
                self.scorecard_, encoder.feature_names, encoder.categories, encoder.transform(frame)
            )
            woe_logit = _logit(oof["scorecard"])
            oof["blend"] = stack_oof(self.lightgbm_.oof_raw_, woe_logit, y_arr, folds)
            self.stack_ = fit_stack(self.lightgbm_.oof_raw_, woe_logit, y_arr)
        # AUC of LightGBM on its raw OOF margins: the calibration was fitted on those same rows,
        # and an in-sample isotonic step function can merge mis-ordered rows into ties (AUC up).
        ranked = {**oof, "lightgbm": self.lightgbm_.oof_raw_}
        self.inner_auc_ = {k: metrics.auc(y_arr, ranked[k]) for k in self.candidates}
        self.inner_brier_ = {k: metrics.brier(y_arr, oof[k]) for k in self.candidates}
        self.choice_ = max(self.candidates, key=lambda k: self.inner_auc_[k])
        self.oof_pd_ = oof[self.choice_]
        self.classes_ = np.array([0, 1])
        self.n_features_in_ = self.lightgbm_.n_features_in_
        self.feature_names_in_ = self.lightgbm_.feature_names_in_
        return self

    def candidate_pd(self, X: Any) -> dict[str, NDArray[np.float64]]:
        """PD of every fitted candidate (the chosen one included)."""
        frame = _as_frame(X)
        raw = self.lightgbm_.decision_function(frame)
        out = {"lightgbm": self.lightgbm_.calibration_.apply(raw)}
        if self.woe_ is not None and self.stack_ is not None:
            woe_logit = self.woe_.logit(self.lightgbm_.encoder_.transform(frame))
            out["scorecard"] = _sigmoid(woe_logit)
            out["blend"] = _sigmoid(self.stack_.apply(raw, woe_logit))
        return {k: out[k] for k in self.candidates}

    def predict_pd(self, X: Any) -> NDArray[np.float64]:
        return self.candidate_pd(X)[self.choice_]

    def predict_proba(self, X: Any) -> NDArray[np.float64]:
        p = self.predict_pd(X)
        return np.column_stack([1.0 - p, p])

    def predict(self, X: Any) -> NDArray[np.int64]:
        return (self.predict_pd(X) >= 0.5).astype(np.int64)

    def selection_summary(self) -> dict[str, Any]:
        """What the run logs: the choice, every candidate's inner OOF AUC and Brier, the tuning."""
        return {
            "selected": self.choice_,
            "inner_folds": self.inner_folds,
            "inner_auc": dict(self.inner_auc_),
            "inner_brier": dict(self.inner_brier_),
            "tuning": dict(self.tuning_),
        }
