"""Training and benchmark jobs: data in, validated models out, tracked in MLflow.

The domain code (estimators, metrics, validation) lives in ``models/``; this module does
the I/O around it: read the feature table or a public dataset, split, fit, validate, write
the bundles and the validation pack under ``var/``, log and register in MLflow. Nothing
is registered unless its validation computed: registration is the last step.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from creditdesk.errors import InputError
from creditdesk.settings import get_settings

Progress = Callable[[str], None]


def _noop(_: str) -> None:
    return None


@dataclass
class TrainingData:
    """Everything a training run needs, whatever the source."""

    name: str
    X: pd.DataFrame
    y: np.ndarray
    monotone: dict[str, int] = field(default_factory=dict)
    categorical: list[str] = field(default_factory=list)
    descriptions: dict[str, str] = field(default_factory=dict)
    catalogue_version: str | None = None
    time: pd.Series | None = None
    test_from: str | None = None
    # loss data, aligned with X (NaN where the row did not default or has no exposure)
    lgd: np.ndarray | None = None
    ccf: np.ndarray | None = None
    drawn: np.ndarray | None = None
    limit: np.ndarray | None = None
    ead: np.ndarray | None = None
    pd_params: dict[str, Any] = field(default_factory=dict)  # overrides of LightGBMPD's defaults
    challenger: bool = True  # fit the WoE scorecard beside the PD model (off only to save time in tests)
    instruments: pd.DataFrame | None = None  # the traded universe (trading features depend on it)

    @property
    def has_loss_data(self) -> bool:
        return self.lgd is not None and self.ccf is not None


def data_fingerprint(X: pd.DataFrame, y: np.ndarray) -> str:
    """sha256 over the row hashes of features and target: the same data gives the same id."""
    digest = hashlib.sha256()
    digest.update(pd.util.hash_pandas_object(X, index=False).to_numpy().tobytes())
    digest.update(np.asarray(y, dtype=np.int64).tobytes())
    digest.update(",".join(map(str, X.columns)).encode())
    return digest.hexdigest()


# --------------------------------------------------------------------------------------------
# sources


def from_public(name: str | None = None, csv: Path | None = None, spec: Path | None = None) -> TrainingData:
    from features.public_datasets import load_builtin, load_csv

    if name is not None:
        frame, ds = load_builtin(name)
    elif csv is not None and spec is not None:
        frame, ds = load_csv(csv, spec)
    else:
        raise InputError("give --dataset NAME, or --csv FILE with --spec SPEC.yaml", field="dataset")
    cols = ds.feature_columns(frame)
    return TrainingData(
        name=ds.name or (csv.stem if csv else "data"),
        X=frame[cols],
        y=frame[ds.target].to_numpy(dtype=np.int64),
        monotone={k: int(v) for k, v in ds.monotone.items() if v},
        categorical=list(ds.categorical),
        time=frame[ds.time_column] if ds.time_column else None,
        test_from=ds.test_from,
    )


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for a bad file
        raise InputError(
            f"cannot read {path}: {' '.join(str(exc).split())[:200]}", field="features"
        ) from None


def from_features_dir(path: Path) -> TrainingData:
    """The platform's own data: ``features.parquet`` + ``labels.parquet`` (the features job),
    or a raw population folder (the generator's tables), built here with the same builder.

    Labels: ``default_12m``; for defaults, LGD = loss / EAD and the CCF measured from the
    application date (nothing drawn) = EAD / limit, from the outcomes' minor-unit columns
    unless the labels table already carries ``lgd`` and ``ccf``.
    """
    from features.catalogue import CATALOGUE_VERSION, feature_names, get
    from models.ead import MAX_CCF, onboarding_ccf

    path = Path(path)
    if not path.is_dir():
        raise InputError(f"--features: no such folder {path}", field="features")
    names = feature_names()
    instruments: pd.DataFrame | None = None
    if (path / "features.parquet").is_file():
        feats = _read_parquet(path / "features.parquet")
        labels_path = path / "labels.parquet"
        if not labels_path.is_file():
            raise InputError(f"{path} has features.parquet but no labels.parquet", field="features")
        labels = _read_parquet(labels_path)
        if (path / "instruments.parquet").is_file():
            instruments = _read_parquet(path / "instruments.parquet")
    elif (path / "applications.parquet").is_file() and (path / "outcomes.parquet").is_file():
        from features.builders import build_features

        wanted = ("customers", "bureau", "trades", "cash_flows", "applications", "outcomes", "instruments")
        tables = {
            t: _read_parquet(path / f"{t}.parquet") for t in wanted if (path / f"{t}.parquet").is_file()
        }
        feats = build_features(tables)
        labels = tables["outcomes"]
        instruments = tables.get("instruments")
    else:
        raise InputError(
            f"{path} holds neither features.parquet + labels.parquet nor a raw population", field="features"
        )
    if "application_id" not in feats.columns or "application_id" not in labels.columns:
        raise InputError("features and labels must both carry application_id", field="features")
    missing = [n for n in names if n not in feats.columns]
    if missing:
        raise InputError(
            f"feature table lacks catalogue feature(s): {', '.join(missing[:5])}", field="features"
        )
    if "default_12m" not in labels.columns:
        raise InputError("labels lack default_12m", field="labels")
    merged = feats.merge(labels, on="application_id", how="inner", suffixes=("", "_label"))
    if merged.empty:
        raise InputError("no application has both features and labels", field="labels")
    y = merged["default_12m"].astype(np.int64).to_numpy()
    defaulted = y == 1

    def col(name: str) -> np.ndarray | None:
        return merged[name].to_numpy(dtype=np.float64) if name in merged.columns else None

    ead = col("exposure_at_default_minor")
    if ead is None:
        ead = col("ead_minor")  # the features job's labels name it so
    drawn, limit = col("drawn_at_open_minor"), col("credit_limit_minor")
    lgd = col("lgd")
    if lgd is None and ead is not None and col("loss_minor") is not None:
        loss = col("loss_minor")
        assert loss is not None
        with np.errstate(divide="ignore", invalid="ignore"):
            lgd = np.where(defaulted & (ead > 0), np.clip(loss / ead, 0, 1), np.nan)
    ccf = col("ccf")
    if ccf is not None:
        # EAD / limit exceeds 1 when accrued interest pushes EAD past a fully drawn line;
        # clipping at 1 would understate Σ EAD (issue 13), so only absurd values are cut.
        ccf = np.where(np.isfinite(ccf), np.clip(ccf, 0.0, MAX_CCF), np.nan)
    elif ead is not None and limit is not None:
        ccf = np.where(defaulted, onboarding_ccf(ead, limit), np.nan)
    time_col = merged["application_date"] if "application_date" in merged.columns else None
    return TrainingData(
        name=path.name,
        X=merged[names].astype(np.float64),
        y=y,
        monotone={n: get(n).monotone for n in names if get(n).monotone},
        descriptions={n: get(n).description for n in names},
        catalogue_version=CATALOGUE_VERSION,
        time=time_col,
        lgd=lgd,
        ccf=ccf,
        drawn=drawn,
        limit=limit,
        ead=ead,
        instruments=instruments,
    )


# --------------------------------------------------------------------------------------------
# splits


def split_indices(
    data: TrainingData, test_fraction: float = 0.2, seed: int = 42
) -> tuple[np.ndarray, np.ndarray]:
    """Out of time when the source says where the test period starts; stratified random otherwise."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(data.y))
    if data.time is not None and data.test_from:
        is_test = pd.to_datetime(data.time).to_numpy() >= np.datetime64(pd.Timestamp(data.test_from))
        return idx[~is_test], idx[is_test]
    tr, te = train_test_split(idx, test_size=test_fraction, stratify=data.y, random_state=seed)
    return np.sort(tr), np.sort(te)


def _check_classes(y: np.ndarray, where: str) -> None:
    n_bad = int(np.sum(y))
    if n_bad < 5 or y.size - n_bad < 5:
        raise InputError(
            f"{where} has {n_bad} bads in {y.size} rows: too few of one class to fit", field="target"
        )


# --------------------------------------------------------------------------------------------
# training


def pd_estimator(data: TrainingData, **overrides: Any) -> Any:
    from models.pd_model import LightGBMPD

    # One LightGBM thread by default: on a shared, busy machine OpenMP threads wait on each
    # other at every barrier (a 100k-row fit took 466 s with 2 threads at load ~8 here).
    # Override with pd_params={"n_jobs": k} on a machine of your own.
    params: dict[str, Any] = {"monotone": data.monotone, "categorical": data.categorical, "n_jobs": 1}
    params.update(data.pd_params)
    params.update(overrides)
    return LightGBMPD(**params)


def _dask_fit(data: TrainingData, X: pd.DataFrame, y: np.ndarray, rounds: int, scheduler: str | None) -> Any:
    from dask.distributed import Client, LocalCluster

    model = pd_estimator(data, n_jobs=1)
    if scheduler:
        with Client(scheduler) as dask_client:
            return model.fit_dask(X, y, dask_client, n_estimators=rounds)
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None, processes=True) as cluster,
        Client(cluster) as dask_client,
    ):
        return model.fit_dask(X, y, dask_client, n_estimators=rounds)


def train(
    data: TrainingData,
    *,
    register: bool = True,
    dask: bool = False,
    scheduler: str | None = None,
    tracking_uri: str | None = None,
    out_dir: Path | None = None,
    progress: Progress = _noop,
) -> dict[str, Any]:
    """Fit PD (+ scorecard challenger), LGD and EAD; validate; write the pack; log and register."""
    from models.lgd import FractionalLogitLGD, MeanLGD, TwoStageLGD
    from models.scorecard import WoEScorecard
    from models.validation import monotonicity_check, validate_lgd, validate_pd, write_validation_pack

    started = time.perf_counter()
    tr, te = split_indices(data)
    X_tr, X_te = data.X.iloc[tr], data.X.iloc[te]
    y_tr, y_te = data.y[tr], data.y[te]
    _check_classes(y_tr, "the training split")
    _check_classes(y_te, "the test split")

    progress("fitting the PD model")
    model = pd_estimator(data).fit(X_tr, y_tr)
    dask_summary: dict[str, Any] | None = None
    if dask:
        from models.metrics import auc

        progress("fitting the PD model on Dask (lightgbm.dask, fixed rounds)")
        in_process_auc = auc(y_te, model.predict_pd(X_te))
        dask_model = _dask_fit(data, X_tr, y_tr, model.best_iteration_, scheduler)
        dask_auc = auc(y_te, dask_model.predict_pd(X_te))
        dask_summary = {
            "auc_in_process": in_process_auc,
            "auc_dask": dask_auc,
            "auc_diff": dask_auc - in_process_auc,
        }
        model = dask_model
    pd_tr, pd_te = model.predict_pd(X_tr), model.predict_pd(X_te)

    sc_te: np.ndarray | None = None
    if data.challenger:
        progress("fitting the WoE scorecard challenger")
        try:
            scorecard = WoEScorecard(categorical=data.categorical, monotone=data.monotone).fit(X_tr, y_tr)
            sc_te = scorecard.predict_pd(X_te)
        except (ValueError, RuntimeError) as exc:  # optbinning can fail on degenerate columns
            progress(f"scorecard challenger failed: {exc}")

    progress("validating")
    mono = monotonicity_check(model.predict_pd, X_te, data.monotone)
    report = validate_pd(y_te, pd_te, pd_train=pd_tr, pd_challenger=sc_te, monotonicity=mono)
    report.update(
        {
            "dataset": data.name,
            "split": "out_of_time" if data.test_from else "stratified_random_80_20",
            "n_train": len(tr),
            "n_test": len(te),
            "best_iteration": model.best_iteration_,
            "calibration_method": model.calibration_.method,
            "calibration_logloss": model.calibration_losses_,
            "catalogue_version": data.catalogue_version,
            "data_fingerprint": data_fingerprint(data.X, data.y),
        }
    )
    if dask_summary:
        report["dask"] = dask_summary

    lgd_model = ead_model = None
    lgd_example = None
    if data.has_loss_data:
        assert data.lgd is not None and data.ccf is not None
        progress("fitting LGD (two-stage) and its baselines")
        lgd_tr = np.isfinite(data.lgd[tr])
        lgd_te = np.isfinite(data.lgd[te])
        if lgd_tr.sum() < 20 or lgd_te.sum() < 5:
            raise InputError(
                f"only {int(lgd_tr.sum())} train / {int(lgd_te.sum())} test defaults with a loss share: "
                "too few to fit and validate LGD; generate a larger population",
                field="labels",
            )
        XL_tr, yl_tr = X_tr[lgd_tr], data.lgd[tr][lgd_tr]
        XL_te, yl_te = X_te[lgd_te], data.lgd[te][lgd_te]
        lgd_model = TwoStageLGD(
            categorical=data.categorical, min_child_samples=max(5, min(40, len(yl_tr) // 20))
        )
        lgd_model.fit(XL_tr, yl_tr)
        report["lgd"] = validate_lgd(
            yl_te,
            {
                "two_stage": lgd_model.predict(XL_te),
                "mean": MeanLGD().fit(XL_tr, yl_tr).predict(XL_te),
                "fractional_logit": FractionalLogitLGD(categorical=data.categorical)
                .fit(XL_tr, yl_tr)
                .predict(XL_te),
            },
        )
        report["lgd_defaults"] = {"train": len(yl_tr), "test": len(yl_te)}
        lgd_example = X_tr.head(5)

        progress("estimating CCF by grade")
        report["ead"] = _ead_report(data, tr, te, pd_tr, pd_te)
        ead_model = report["ead"].pop("model")

    progress("writing the validation pack")
    settings = get_settings()
    stamp = time.strftime("%Y%m%dT%H%M%S")
    final_dir = out_dir or settings.var_dir / "models" / f"{data.name}-{stamp}"
    final_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=final_dir.parent, prefix=f".{final_dir.name}."))
    try:
        from models.bundle import INSTRUMENTS_FILE, save_ead_bundle, save_lgd_bundle, save_pd_bundle

        write_validation_pack(report, work / "validation", y_test=y_te, pd_test=pd_te, pd_train=pd_tr)
        model.feature_importance().to_csv(work / "feature_importance.csv", index=False)
        save_pd_bundle(
            model, work / "pd", descriptions=data.descriptions, catalogue_version=data.catalogue_version
        )
        if data.instruments is not None:
            data.instruments.to_parquet(work / "pd" / INSTRUMENTS_FILE, index=False)
        if lgd_model is not None and ead_model is not None:
            save_lgd_bundle(lgd_model, work / "lgd")
            save_ead_bundle(ead_model, work / "ead")
        holdout = X_te.copy()
        holdout["__target__"] = y_te
        holdout.to_parquet(work / "holdout.parquet")
        # The monitoring reference: the hold-out's features, scores and grades (out-of-sample
        # scores, so the report's reference AUC is not optimistic), logged with the run.
        from monitoring.reference import build_reference

        reference = build_reference(
            X_te.reset_index(drop=True),
            pd_12m=pd_te,
            default_12m=y_te,
            application_date=None if data.time is None else data.time.iloc[te].to_numpy(),
        )
        reference.to_parquet(work / "reference.parquet", index=False)
        if final_dir.exists():
            shutil.rmtree(final_dir)
        work.rename(final_dir)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise

    summary: dict[str, Any] = {
        k: report.get(k)
        for k in ("dataset", "n", "bad_rate", "auc", "gini", "ks", "brier", "ece", "auc_scorecard",
                  "jeffreys_pass_share", "psi_train_test", "monotonicity_ok", "calibration_method",
                  "best_iteration", "split")
    }  # fmt: skip
    summary["n_train"], summary["n_test"] = len(tr), len(te)
    summary["out_dir"] = str(final_dir)
    if "lgd" in report:
        summary["lgd"] = report["lgd"]
    if "ead" in report:
        summary["ead_total_ratio_by_grade"] = report["ead"]["total_ead_ratio_by_grade"]
        summary["ead_sum_ratio"] = report["ead"]["ead_sum_ratio"]
    if dask_summary:
        summary["dask"] = dask_summary

    progress("logging to MLflow")
    summary.update(
        _log_run(
            data,
            model,
            report,
            final_dir,
            register=register and lgd_model is not None,
            pd_example=X_tr.head(5),
            lgd_example=lgd_example,
            tracking_uri=tracking_uri,
        )
    )
    summary["seconds"] = round(time.perf_counter() - started, 1)
    return summary


def _ead_report(
    data: TrainingData, tr: np.ndarray, te: np.ndarray, pd_tr: np.ndarray, pd_te: np.ndarray
) -> dict[str, Any]:
    """Fit the CCF by grade on the training defaults and check it on the hold-out's (issue 13).

    The CCF is measured from the application date (nothing drawn), weighted by the limit, so
    the decision's EAD = CCF × limit sums to the realised EAD: ``ead_sum_ratio`` = Σ
    predicted / Σ realised EAD over the hold-out's defaults (target 1 ± 0.05).
    """
    from models.ead import CCFByGrade
    from models.master_scale import grade_of

    assert data.ccf is not None
    weight = data.limit if data.limit is not None else np.ones(len(data.ccf))
    fit_rows = np.isfinite(data.ccf[tr])
    model = CCFByGrade().fit(
        grade_of(pd_tr[fit_rows]), data.ccf[tr][fit_rows], sample_weight=weight[tr][fit_rows]
    )
    out: dict[str, Any] = {
        "model": model,
        "ccf_by_grade": [float(v) for v in model.ccf_by_grade_],
        "pooled_ccf": model.pooled_ccf_,
        "ead_sum_ratio": None,
        "total_ead_ratio_by_grade": None,
    }
    rows = np.isfinite(data.ccf[te])
    if data.limit is None or data.ead is None or not rows.any():
        return out
    limit, ead = data.limit[te][rows], data.ead[te][rows]
    pred = model.predict(grade_of(pd_te[rows])) * limit  # a new line: nothing drawn
    pooled = model.pooled_ccf_ * limit
    denom = float(np.sum(ead))
    ratio = float(np.sum(pred) / denom) if denom else None
    out.update(
        n_test_defaults=int(rows.sum()),
        ead_sum_ratio=ratio,
        total_ead_ratio_by_grade=ratio,
        total_ead_ratio_pooled=float(np.sum(pooled) / denom) if denom else None,
        mae_minor_by_grade=float(np.mean(np.abs(pred - ead))),
        mae_minor_pooled=float(np.mean(np.abs(pooled - ead))),
    )
    return out


def _flat_metrics(report: dict[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for key in ("auc", "gini", "ks", "brier", "ece", "auc_scorecard", "jeffreys_pass_share", "psi_train_test",
                "bad_rate", "mean_pd"):  # fmt: skip
        if report.get(key) is not None:
            out[key] = float(report[key])
    for model_name, values in report.get("lgd", {}).items():
        if isinstance(values, dict):
            for metric, value in values.items():
                if isinstance(value, int | float):
                    out[f"lgd_{model_name}_{metric}"] = float(value)
    for key in (
        "ead_sum_ratio",
        "total_ead_ratio_by_grade",
        "total_ead_ratio_pooled",
        "mae_minor_by_grade",
        "mae_minor_pooled",
    ):
        value = report.get("ead", {}).get(key)
        if value is not None:
            out[f"ead_{key}"] = float(value)
    return out


def _log_run(
    data: TrainingData,
    model: Any,
    report: dict[str, Any],
    bundle_dir: Path,
    *,
    register: bool,
    pd_example: pd.DataFrame,
    lgd_example: pd.DataFrame | None,
    tracking_uri: str | None,
) -> dict[str, Any]:
    import mlflow

    from models import registry

    uri = registry.use_tracking(tracking_uri)
    with mlflow.start_run(run_name=f"train-{data.name}") as run:
        mlflow.log_params(
            {
                **{
                    f"pd_{k}": v
                    for k, v in model.get_params().items()
                    if k not in ("monotone", "categorical")
                },
                "pd_best_iteration": model.best_iteration_,
                "pd_calibration": model.calibration_.method,
                "n_train": report["n_train"],
                "n_test": report["n_test"],
                "split": report["split"],
                "n_features": model.n_features_in_,
            }
        )
        mlflow.log_dict({"monotone": data.monotone, "categorical": data.categorical}, "constraints.json")
        mlflow.log_metrics(_flat_metrics(report))
        mlflow.set_tags(
            {
                "dataset": data.name,
                "data_fingerprint": report["data_fingerprint"],
                "catalogue_version": str(data.catalogue_version),
            }
        )
        mlflow.log_artifacts(str(bundle_dir / "validation"), artifact_path="validation")
        mlflow.log_artifact(str(bundle_dir / "feature_importance.csv"))
        mlflow.log_artifact(str(bundle_dir / "holdout.parquet"), artifact_path="holdout")
        mlflow.log_artifact(str(bundle_dir / "reference.parquet"), artifact_path="reference")
        versions: dict[str, int] = {}
        if register:
            assert lgd_example is not None
            versions = registry.register_bundles(
                pd_dir=bundle_dir / "pd",
                lgd_dir=bundle_dir / "lgd",
                ead_dir=bundle_dir / "ead",
                pd_example=pd_example,
                lgd_example=lgd_example,
                version_tags={
                    "auc": f"{report['auc']:.6f}",
                    "jeffreys_pass_share": f"{report['jeffreys_pass_share']:.4f}",
                    "monotonicity_ok": str(bool(report.get("monotonicity_ok", True))).lower(),
                    "catalogue_version": str(data.catalogue_version),
                    "data_fingerprint": report["data_fingerprint"],
                },
            )
    return {"tracking_uri": uri, "run_id": run.info.run_id, "registered": versions}


# --------------------------------------------------------------------------------------------
# benchmark


def benchmark(
    data: TrainingData, *, folds: int = 5, seed: int = 42, progress: Progress = _noop, **pd_params: Any
) -> dict[str, Any]:
    """Pooled out-of-fold metrics of the PD model and the WoE scorecard on the same splits.

    Stratified K-fold with shuffle (random_state 42, as the README's reference figures), or
    one out-of-time split where the data says where the test period starts.
    """
    from sklearn.model_selection import StratifiedKFold

    from models import metrics
    from models.master_scale import grade_of
    from models.scorecard import WoEScorecard
    from models.validation import calibration_by_grade

    if folds < 2 and not data.test_from:
        raise InputError("--folds must be at least 2", field="folds")
    started = time.perf_counter()
    if data.test_from:
        tr, te = split_indices(data)
        splits = [(tr, te)]
    else:
        splits = list(StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(data.X, data.y))
    pd_oof = np.full(len(data.y), np.nan)
    sc_oof = np.full(len(data.y), np.nan)
    for k, (tr, te) in enumerate(splits, start=1):
        _check_classes(data.y[tr], f"fold {k} training rows")
        progress(f"fold {k}/{len(splits)}: PD model")
        model = pd_estimator(data, **pd_params).fit(data.X.iloc[tr], data.y[tr])
        pd_oof[te] = model.predict_pd(data.X.iloc[te])
        progress(f"fold {k}/{len(splits)}: scorecard")
        scorecard = WoEScorecard(categorical=data.categorical, monotone=data.monotone)
        sc_oof[te] = scorecard.fit(data.X.iloc[tr], data.y[tr]).predict_pd(data.X.iloc[te])
    scored = np.isfinite(pd_oof)
    y, p, s = data.y[scored], pd_oof[scored], sc_oof[scored]
    by_grade = calibration_by_grade(y, p)
    return {
        "dataset": data.name,
        "validation": "out_of_time" if data.test_from else f"stratified_{len(splits)}_fold",
        "folds": len(splits),
        "n": int(scored.sum()),
        "bad_rate": float(y.mean()),
        "auc": metrics.auc(y, p),
        "gini": metrics.gini(y, p),
        "ks": metrics.ks_statistic(y, p),
        "brier": metrics.brier(y, p),
        "ece": metrics.expected_calibration_error(y, p),
        "jeffreys_pass_share": float(by_grade["jeffreys_pass"].mean()),
        "grades_used": int(np.unique(grade_of(p)).size),
        "auc_scorecard": metrics.auc(y, s),
        "gini_scorecard": metrics.gini(y, s),
        "ks_scorecard": metrics.ks_statistic(y, s),
        "brier_scorecard": metrics.brier(y, s),
        "seconds": round(time.perf_counter() - started, 1),
    }


def dumps(summary: dict[str, Any]) -> str:
    """One-line JSON (NaN → null) for ``--json``."""
    from creditdesk.jsonsafe import json_safe

    return json.dumps(json_safe(summary), separators=(",", ":"), sort_keys=True)
