"""Reject inference: a PD learnt from approved applicants only, and three ways to correct it.

A lender sees outcomes only for the applicants it approved, so a PD fitted on them learns
the approved population and is applied to everyone who applies (the through-the-door
population). Reject inference tries to put the declined applicants back. Elsewhere it
cannot be measured honestly, because nobody knows how the declined would have performed;
the generated population does (its outcomes exist for every applicant), so here each
method is scored against that truth.

Methods (``METHODS``), all fitting the same learner (``fit_pd``: monotone LightGBM,
cross-entropy objective, so a label may be a probability and a row may carry a weight;
early-stopped on *approved* rows only, the only rows whose outcome is known):

- ``approved_only``: the approved applicants and their outcomes (what a platform has);
- ``augmentation``: approved applicants reweighted by 1 / P(approved | x) (an acceptance
  model on every applicant), so approved rows that look like the declined count more;
- ``parcelling``: declined applicants get a random outcome with the bad rate of their
  score band among the approved (bands = deciles of the approved-only PD), times
  ``reject_factor``;
- ``fuzzy``: declined applicants enter with a soft label, the approved-only PD times
  ``reject_factor`` (the log loss of a soft label is that of the classic split into a bad
  row weighted p and a good row weighted 1 - p).

``reject_factor`` > 1 states the belief that the declined are riskier than the approved
with the same score (they were declined for reasons the score may miss); 1 trusts the
approved-only model's extrapolation.

The generated population carries no decision of its own; ``legacy_decisions`` replays a
stated bureau-led policy of the past (``LEGACY_WEIGHTS``) so the truncation is realistic:
it declines on bureau data and discretion, not on the trading behaviour the PD also sees.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from numpy.typing import NDArray

from creditdesk.errors import InputError
from models.calibration import Calibration
from models.pd_model import LightGBMPD
from models.threads import TRAIN_THREADS

METHODS = ("approved_only", "augmentation", "parcelling", "fuzzy")
DECISION_COLUMN = "approved"
"""The key of the decision column (True = approved) in the labels or applications table."""

LEGACY_WEIGHTS = {
    "bureau_score": -1.0,
    "delinquencies_24m": 0.6,
    "debt_to_income": 0.4,
    "bureau_default_24m": 0.4,
}
"""The past policy's risk score: standardised bureau features (higher = riskier)."""
LEGACY_NOISE_SD = 0.5
"""Underwriter discretion: normal noise added to the standardised legacy score."""
MAX_AUGMENTATION_WEIGHT = 10.0
"""1 / P(approved) is capped so a few look-alikes of the declined cannot dominate the fit."""
RI_PARAMS: dict[str, Any] = {"learning_rate": 0.05, "num_leaves": 15, "min_child_samples": 50,
             "colsample_bytree": 0.7, "subsample": 0.8, "reg_lambda": 5.0}  # fmt: skip
"""The learner's fixed parameters: the model selection's first (default) trial."""


def legacy_decisions(frame: pd.DataFrame, approval_rate: float, seed: int = 0) -> NDArray[np.bool_]:
    """Approve the ``approval_rate`` share of applicants with the lowest legacy risk score."""
    if not 0.0 < approval_rate < 1.0:
        raise InputError(f"approval rate must be in (0, 1), got {approval_rate}", field="approval_rate")
    missing = [c for c in LEGACY_WEIGHTS if c not in frame.columns]
    if missing:
        raise InputError(f"the legacy policy needs column(s) {', '.join(missing)}", field=missing[0])
    score = np.zeros(len(frame))
    for name, weight in LEGACY_WEIGHTS.items():
        col = frame[name].to_numpy(dtype=np.float64)
        col = np.where(np.isfinite(col), col, np.nanmedian(col))
        score += weight * (col - col.mean()) / (col.std() or 1.0)
    score += np.random.default_rng(seed).normal(0.0, LEGACY_NOISE_SD, len(frame))
    return np.asarray(score <= np.quantile(score, approval_rate))


def fit_pd(
    X: pd.DataFrame,
    target: NDArray[np.float64],
    *,
    weight: NDArray[np.float64] | None = None,
    known: NDArray[np.bool_] | None = None,
    monotone: Mapping[str, int] | None = None,
    seed: int = 42,
) -> LightGBMPD:
    """Monotone LightGBM on (soft) labels in [0, 1] with row weights, early-stopped on 20 % of
    the ``known`` rows (real outcomes; all rows if not given), which it does not train on.

    Returns a ``LightGBMPD`` whose calibration is the identity (the cross-entropy objective
    already outputs probabilities), so it saves, registers and scores like any PD.
    """
    y = np.asarray(target, dtype=np.float64)
    w = np.ones(y.size) if weight is None else np.asarray(weight, dtype=np.float64)
    known_rows = np.flatnonzero(np.ones(y.size, bool) if known is None else known)
    rng = np.random.default_rng(seed)
    valid = rng.choice(known_rows, size=max(1, known_rows.size // 5), replace=False)
    fit_rows = np.setdiff1d(np.arange(y.size), valid)
    model = LightGBMPD(**RI_PARAMS, monotone=monotone, random_state=seed, n_jobs=TRAIN_THREADS)
    matrix, _ = model._prepare(X, _as_binary(y))
    params = {**model.params_, "objective": "cross_entropy"}
    cat_idx: Any = model.encoder_.categorical_indices or "auto"
    train_set = lgb.Dataset(
        matrix[fit_rows], label=y[fit_rows], weight=w[fit_rows], categorical_feature=cat_idx
    )
    valid_set = lgb.Dataset(matrix[valid], label=(y[valid] >= 0.5).astype(float), reference=train_set)
    stop = lgb.early_stopping(model.early_stopping_rounds, first_metric_only=True, verbose=False)
    booster = lgb.train(params, train_set, model.n_estimators, valid_sets=[valid_set], callbacks=[stop])
    model.best_iteration_ = int(booster.best_iteration or model.n_estimators)
    model.booster_ = lgb.Booster(model_str=booster.model_to_string(num_iteration=model.best_iteration_))
    model.calibration_, model.calibration_losses_ = Calibration("identity"), {}
    return model


def _as_binary(y: NDArray[np.float64]) -> NDArray[np.float64]:
    """A 0/1 stand-in for soft labels, only so the encoder and parameters can be prepared."""
    out = (y >= 0.5).astype(np.float64)
    if out.min() == out.max():
        out[np.argmax(y)] = 1.0 - out[0]
    return out


@dataclass
class InferredSet:
    """The rows a method trains on: features, (soft) labels, weights, and which are real."""

    X: pd.DataFrame
    target: NDArray[np.float64]
    weight: NDArray[np.float64]
    known: NDArray[np.bool_]


def _acceptance_weights(X: pd.DataFrame, approved: NDArray[np.bool_], seed: int) -> NDArray[np.float64]:
    """1 / P(approved | x) for the approved rows (capped, rescaled to the applicants' count)."""
    model = fit_pd(X, approved.astype(np.float64), seed=seed)
    p_accept = np.clip(model.predict_pd(X[approved]), 1.0 / MAX_AUGMENTATION_WEIGHT, 1.0)
    w = 1.0 / p_accept
    return np.asarray(w * approved.size / w.sum())


def inferred_set(
    method: str,
    X: pd.DataFrame,
    y: NDArray[np.float64],
    approved: NDArray[np.bool_],
    base: LightGBMPD | None,
    *,
    reject_factor: float = 1.0,
    seed: int = 42,
) -> InferredSet:
    """The training rows of ``method`` from applicants ``X`` (outcomes ``y`` read only where
    ``approved``) and ``base``, the approved-only model (needed by parcelling and fuzzy)."""
    if method not in METHODS:
        raise InputError(
            f"reject inference method must be one of {', '.join(METHODS)}", field="reject_inference"
        )
    acc = np.flatnonzero(approved)
    X_acc, y_acc = X.iloc[acc], np.asarray(y, dtype=np.float64)[acc]
    ones = np.ones(acc.size)
    if method == "approved_only":
        return InferredSet(X_acc, y_acc, ones, np.ones(acc.size, bool))
    if method == "augmentation":
        return InferredSet(X_acc, y_acc, _acceptance_weights(X, approved, seed), np.ones(acc.size, bool))
    assert base is not None, "parcelling and fuzzy score the declined with the approved-only model"
    X_rej = X.iloc[np.flatnonzero(~approved)]
    p_rej = base.predict_pd(X_rej)
    if method == "parcelling":
        p_acc = base.predict_pd(X_acc)
        edges = np.unique(np.quantile(p_acc, np.linspace(0, 1, 11)[1:-1]))
        band_acc, band_rej = np.searchsorted(edges, p_acc), np.searchsorted(edges, p_rej)
        bads = np.bincount(band_acc, weights=y_acc, minlength=edges.size + 1)
        counts = np.maximum(np.bincount(band_acc, minlength=edges.size + 1), 1)
        rate = np.clip(reject_factor * bads / counts, 0.0, 1.0)[band_rej]
        label = (np.random.default_rng(seed).uniform(size=rate.size) < rate).astype(np.float64)
    else:  # fuzzy
        label = np.clip(reject_factor * p_rej, 0.0, 1.0)
    return InferredSet(
        pd.concat([X_acc, X_rej]),
        np.r_[y_acc, label],
        np.ones(acc.size + label.size),
        np.r_[np.ones(acc.size, bool), np.zeros(label.size, bool)],
    )


def fit_method(
    method: str,
    X: pd.DataFrame,
    y: NDArray[np.float64],
    approved: NDArray[np.bool_],
    *,
    monotone: Mapping[str, int] | None = None,
    reject_factor: float = 1.0,
    seed: int = 42,
    base: LightGBMPD | None = None,
) -> LightGBMPD:
    """The PD ``method`` learns from these applicants (``base``: a fitted approved-only model)."""
    if base is None and method in ("parcelling", "fuzzy"):
        base = fit_method("approved_only", X, y, approved, monotone=monotone, seed=seed)
    rows = inferred_set(method, X, y, approved, base, reject_factor=reject_factor, seed=seed)
    return fit_pd(rows.X, rows.target, weight=rows.weight, known=rows.known, monotone=monotone, seed=seed)


def population_metrics(y: NDArray[np.float64], pd_: NDArray[np.float64]) -> dict[str, Any]:
    """AUC, Brier, mean PD against the observed rate, ECE and Jeffreys pass share."""
    from models import metrics
    from models.validation import calibration_by_grade

    return {
        "n": int(y.size),
        "defaults": int(np.sum(y)),
        "auc": metrics.auc(y, pd_),
        "brier": metrics.brier(y, pd_),
        "observed_rate": float(np.mean(y)),
        "mean_pd": float(np.mean(pd_)),
        "ece": metrics.expected_calibration_error(y, pd_),
        "jeffreys_pass_share": float(calibration_by_grade(y, pd_)["jeffreys_pass"].mean()),
    }


def compare_methods(
    X: pd.DataFrame,
    y: NDArray[np.float64],
    approved: NDArray[np.bool_],
    train: NDArray[np.int64],
    test: NDArray[np.int64],
    *,
    monotone: Mapping[str, int] | None = None,
    reject_factor: float = 1.0,
    seed: int = 42,
) -> list[dict[str, Any]]:
    """Every method fitted on the ``train`` applicants (outcomes of the approved only), scored
    on every ``test`` applicant (the through-the-door truth) and on the approved among them;
    plus ``through_the_door``, the same learner given every training outcome (the bound no
    method can beat on average)."""
    X_tr, y_tr, a_tr = X.iloc[train], np.asarray(y, np.float64)[train], np.asarray(approved)[train]
    X_te, y_te, a_te = X.iloc[test], np.asarray(y, np.float64)[test], np.asarray(approved)[test]
    base = fit_method("approved_only", X_tr, y_tr, a_tr, monotone=monotone, seed=seed)
    models = {"approved_only": base}
    for method in METHODS[1:]:
        models[method] = fit_method(method, X_tr, y_tr, a_tr, monotone=monotone,
                                    reject_factor=reject_factor, seed=seed, base=base)  # fmt: skip
    everyone = np.ones(y_tr.size, bool)
    models["through_the_door"] = fit_method(
        "approved_only", X_tr, y_tr, everyone, monotone=monotone, seed=seed
    )
    rows = []
    for name, model in models.items():
        p = model.predict_pd(X_te)
        rows.append({
            "method": name, "reject_factor": reject_factor if name in ("parcelling", "fuzzy") else None,
            "all_applicants": population_metrics(y_te, p),
            "approved_only": population_metrics(y_te[a_te], p[a_te]),
        })  # fmt: skip
    return rows
