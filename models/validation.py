"""The validation pack: one function computes it, one writes it (JSON + plots).

Discrimination (AUC, Gini, KS), accuracy (Brier, ECE), calibration per grade (Jeffreys
and binomial tests), stability (PSI train → test), monotonicity of every constrained
feature over a grid, and LGD accuracy against its baselines. The same numbers feed the
MLflow run, the promotion gate and the risk-committee report, so they are computed once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from creditdesk.atomic import write_json_atomic
from models import metrics
from models.master_scale import GRADE_BANDS, grade_of

JEFFREYS_ALPHA = 0.05
MIN_JEFFREYS_PASS_SHARE = 0.80
MAX_AUC_LOSS = 0.005


def calibration_by_grade(y: ArrayLike, pd_: ArrayLike) -> pd.DataFrame:
    """Per populated grade: n, defaults, mean PD, observed rate, Jeffreys and binomial p-values.

    A grade passes when the one-sided Jeffreys p-value is at least 5%: we only fail a grade
    whose PD understates its observed default rate (overstatement is conservative).
    """
    y_arr = np.asarray(y, dtype=np.float64)
    p_arr = np.asarray(pd_, dtype=np.float64)
    grades = grade_of(p_arr)
    frame = pd.DataFrame({"grade": grades, "y": y_arr, "pd": p_arr})
    table = (
        frame.groupby("grade")
        .agg(n=("y", "size"), defaults=("y", "sum"), mean_pd=("pd", "mean"))
        .reset_index()
    )
    table["defaults"] = table["defaults"].astype(np.int64)
    table["observed_rate"] = table["defaults"] / table["n"]
    table["jeffreys_p"] = metrics.jeffreys_test(table["defaults"], table["n"], table["mean_pd"])
    table["binomial_p"] = metrics.binomial_test(table["defaults"], table["n"], table["mean_pd"])
    table["jeffreys_pass"] = table["jeffreys_p"] >= JEFFREYS_ALPHA
    return table


def monotonicity_check(
    predict: Callable[[pd.DataFrame], NDArray[np.float64]],
    X: pd.DataFrame,
    monotone: Mapping[str, int],
    *,
    grid_points: int = 15,
    sample_rows: int = 200,
    seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """Move each constrained feature over a grid of its quantiles, all else fixed, for a sample.

    A feature passes when, for every sampled row, the prediction never moves against the
    stated direction (tolerance 1e-12). Returns per feature: direction, ok, rows checked,
    violating rows.
    """
    rng = np.random.default_rng(seed)
    rows = X.iloc[rng.choice(len(X), size=min(sample_rows, len(X)), replace=False)]
    result: dict[str, dict[str, Any]] = {}
    for name, direction in monotone.items():
        if not direction or name not in X.columns:
            continue
        values = pd.to_numeric(X[name], errors="coerce").dropna().to_numpy()
        if values.size == 0:
            continue
        grid = np.unique(np.quantile(values, np.linspace(0, 1, grid_points)))
        if grid.size < 2:
            result[name] = {"direction": int(direction), "ok": True, "rows": len(rows), "violations": 0}
            continue
        repeated = rows.loc[rows.index.repeat(grid.size)].reset_index(drop=True)
        repeated[name] = np.tile(grid, len(rows))
        preds = np.asarray(predict(repeated), dtype=np.float64).reshape(len(rows), grid.size)
        steps = np.diff(preds, axis=1) * np.sign(direction)
        bad_rows = int(np.sum(np.any(steps < -1e-12, axis=1)))
        result[name] = {
            "direction": int(direction),
            "ok": bad_rows == 0,
            "rows": len(rows),
            "violations": bad_rows,
        }
    return result


def validate_pd(
    y_test: ArrayLike,
    pd_test: ArrayLike,
    *,
    pd_train: ArrayLike | None = None,
    pd_challenger: ArrayLike | None = None,
    monotonicity: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The PD part of the pack as a JSON-ready dict."""
    y_arr = np.asarray(y_test, dtype=np.float64)
    p_arr = np.asarray(pd_test, dtype=np.float64)
    by_grade = calibration_by_grade(y_arr, p_arr)
    report: dict[str, Any] = {
        "n": int(y_arr.size),
        "bad_rate": float(y_arr.mean()),
        "auc": metrics.auc(y_arr, p_arr),
        "gini": metrics.gini(y_arr, p_arr),
        "ks": metrics.ks_statistic(y_arr, p_arr),
        "brier": metrics.brier(y_arr, p_arr),
        "ece": metrics.expected_calibration_error(y_arr, p_arr),
        "mean_pd": float(p_arr.mean()),
        "grades": by_grade.to_dict(orient="records"),
        "jeffreys_pass_share": float(by_grade["jeffreys_pass"].mean()),
        "binomial_pass_share": float((by_grade["binomial_p"] >= JEFFREYS_ALPHA).mean()),
    }
    if pd_train is not None:
        value = metrics.psi(np.asarray(pd_train, dtype=np.float64), p_arr)
        report["psi_train_test"] = value
        report["psi_band"] = metrics.psi_band(value)
    if pd_challenger is not None:
        report["auc_scorecard"] = metrics.auc(y_arr, pd_challenger)
        report["gini_scorecard"] = metrics.gini(y_arr, pd_challenger)
    if monotonicity is not None:
        report["monotonicity"] = {k: dict(v) for k, v in monotonicity.items()}
        report["monotonicity_ok"] = all(bool(v["ok"]) for v in monotonicity.values())
    return report


def validate_lgd(y: ArrayLike, predictions: Mapping[str, ArrayLike]) -> dict[str, dict[str, float]]:
    """MAE, RMSE, R² of each LGD model (e.g. two_stage, mean, fractional_logit) on the same rows."""
    from models.lgd import regression_metrics

    return {name: regression_metrics(y, pred) for name, pred in predictions.items()}


@dataclass
class GateResult:
    passed: bool
    reasons: list[str] = field(default_factory=list)
    checks: dict[str, Any] = field(default_factory=dict)


def promotion_gate(
    *,
    challenger_auc: float,
    champion_auc: float | None,
    jeffreys_pass_share: float,
    monotonicity_ok: bool,
    max_auc_loss: float = MAX_AUC_LOSS,
    min_jeffreys_pass_share: float = MIN_JEFFREYS_PASS_SHARE,
) -> GateResult:
    """Promote only if the challenger loses at most ``max_auc_loss`` AUC against the champion
    on the same hold-out, passes the Jeffreys test in enough grades, and is monotone where
    the catalogue says it must be. No champion yet: the AUC check passes."""
    reasons: list[str] = []
    auc_loss = None if champion_auc is None else champion_auc - challenger_auc
    if auc_loss is not None and auc_loss > max_auc_loss:
        reasons.append(
            f"AUC {challenger_auc:.4f} is {auc_loss:.4f} below the champion's {champion_auc:.4f} "
            f"(allowed loss {max_auc_loss})"
        )
    if jeffreys_pass_share < min_jeffreys_pass_share:
        reasons.append(
            f"Jeffreys test passes in {jeffreys_pass_share:.0%} of grades "
            f"(need {min_jeffreys_pass_share:.0%})"
        )
    if not monotonicity_ok:
        reasons.append("a monotone-constrained feature moves the PD against its stated direction")
    checks = {
        "challenger_auc": challenger_auc,
        "champion_auc": champion_auc,
        "auc_loss": auc_loss,
        "jeffreys_pass_share": jeffreys_pass_share,
        "monotonicity_ok": monotonicity_ok,
    }
    return GateResult(passed=not reasons, reasons=reasons, checks=checks)


def write_validation_pack(
    report: Mapping[str, Any],
    out_dir: Path,
    *,
    y_test: ArrayLike,
    pd_test: ArrayLike,
    pd_train: ArrayLike | None = None,
) -> dict[str, Path]:
    """validation.json plus roc.png, calibration_by_grade.png, score_distribution.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    y_arr = np.asarray(y_test, dtype=np.float64)
    p_arr = np.asarray(pd_test, dtype=np.float64)
    paths = {"validation": write_json_atomic(report, out_dir / "validation.json")}

    order = np.argsort(-p_arr, kind="mergesort")
    tpr = np.r_[0.0, np.cumsum(y_arr[order]) / y_arr.sum()]
    fpr = np.r_[0.0, np.cumsum(1 - y_arr[order]) / (1 - y_arr).sum()]
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot(fpr, tpr, label=f"model AUC {report.get('auc', float('nan')):.3f}")
    ax.plot([0, 1], [0, 1], "--", color="grey")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC on the hold-out")
    ax.legend(loc="lower right")
    paths["roc"] = out_dir / "roc.png"
    fig.savefig(paths["roc"], dpi=90, bbox_inches="tight")
    plt.close(fig)

    grades = pd.DataFrame(report["grades"])
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.bar(grades["grade"] - 0.2, grades["mean_pd"], width=0.4, label="mean PD")
    ax.bar(grades["grade"] + 0.2, grades["observed_rate"], width=0.4, label="observed default rate")
    ax.set_yscale("log")
    ax.set_xticks(range(1, len(GRADE_BANDS) + 2))
    ax.set(xlabel="grade", ylabel="rate (log scale)", title="Calibration by grade")
    ax.legend()
    paths["calibration"] = out_dir / "calibration_by_grade.png"
    fig.savefig(paths["calibration"], dpi=90, bbox_inches="tight")
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4))
    bins = np.linspace(0, max(float(p_arr.max()), 1e-3), 40).tolist()
    ax.hist(p_arr[y_arr == 0], bins=bins, alpha=0.6, density=True, label="goods (test)")
    ax.hist(p_arr[y_arr == 1], bins=bins, alpha=0.6, density=True, label="bads (test)")
    if pd_train is not None:
        ax.hist(np.asarray(pd_train), bins=bins, histtype="step", density=True, label="all (train)")
    ax.set(xlabel="PD", ylabel="density", title="Score distribution")
    ax.legend()
    paths["score_distribution"] = out_dir / "score_distribution.png"
    fig.savefig(paths["score_distribution"], dpi=90, bbox_inches="tight")
    plt.close(fig)
    return paths
