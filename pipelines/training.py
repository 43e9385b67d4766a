"""Training and benchmark jobs: data in, validated models out, tracked in MLflow.

The domain code (estimators, metrics, validation) lives in ``models/``; this module does
the I/O around it: read the feature table or a public dataset, split, fit, validate, write
the bundles and the validation pack under ``var/``, log and register in MLflow. Nothing
is registered unless its validation computed: registration is the last step.
"""

from __future__ import annotations

import hashlib
import json
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
from models.selection import Budget

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
    candidates: tuple[str, ...] | None = None  # the selection's candidates (None: all of them)
    instruments: pd.DataFrame | None = None  # the traded universe (trading features depend on it)
    # protected attributes aligned with X (never inputs): for adverse-impact tables only
    attributes: pd.DataFrame | None = None
    excluded_inputs: dict[str, Any] = field(default_factory=dict)  # protected + near-proxies dropped
    fairness_attributes: list[str] | None = None  # None: every attribute the data has
    out_of_time: bool = True  # split dated data by application date (train old, validate latest)
    monitored: pd.DataFrame | None = None  # every catalogue feature (inputs or not), for monitoring
    decision: np.ndarray | None = None  # the past decision per row (True = approved), if the data has one
    reject_inference: str | None = None  # a models.reject_inference method: train as a platform sees it
    reject_factor: float = 1.0  # declined applicants' risk relative to approved ones with the same score
    decision_source: str = "data"  # where ``decision`` came from (the data, or the legacy policy)

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


def _protected_attributes(merged: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Age band and region per row, for adverse-impact tables. Region is not a feature: it
    comes from the customers table of a raw population (the folder itself or ``../raw``)."""
    from models.fairness import age_band

    out = pd.DataFrame({"age_band": age_band(merged["age_years"].to_numpy())}, index=merged.index)
    if "region" in merged.columns:
        out["region"] = merged["region"].astype(str).to_numpy()
        return out
    for folder in (path, path.parent / "raw"):
        customers = folder / "customers.parquet"
        if customers.is_file() and "customer_id" in merged.columns:
            regions = _read_parquet(customers)[["customer_id", "region"]]
            out["region"] = (
                merged[["customer_id"]]
                .merge(regions, on="customer_id", how="left")["region"]
                .astype(str)
                .to_numpy()
            )
            break
    return out


def _loss_labels(merged: pd.DataFrame, defaulted: np.ndarray) -> tuple[np.ndarray | None, ...]:
    """LGD, CCF, drawn, limit and EAD per row (NaN where not defaulted) from the labels' columns."""
    from models.ead import MAX_CCF, onboarding_ccf

    def col(name: str) -> np.ndarray | None:
        return merged[name].to_numpy(dtype=np.float64) if name in merged.columns else None

    ead = col("exposure_at_default_minor")
    if ead is None:
        ead = col("ead_minor")  # the features job's labels name it so
    drawn, limit, lgd, loss = (
        col("drawn_at_open_minor"),
        col("credit_limit_minor"),
        col("lgd"),
        col("loss_minor"),
    )
    if lgd is None and ead is not None and loss is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            lgd = np.where(defaulted & (ead > 0), np.clip(loss / ead, 0, 1), np.nan)
    ccf = col("ccf")
    if ccf is not None:
        # EAD / limit exceeds 1 when accrued interest pushes EAD past a fully drawn line;
        # clipping at 1 would understate Σ EAD (issue 13), so only absurd values are cut.
        ccf = np.where(np.isfinite(ccf), np.clip(ccf, 0.0, MAX_CCF), np.nan)
    elif ead is not None and limit is not None:
        ccf = np.where(defaulted, onboarding_ccf(ead, limit), np.nan)
    return lgd, ccf, drawn, limit, ead


def from_features_dir(path: Path) -> TrainingData:
    """The platform's own data: ``features.parquet`` + ``labels.parquet`` (the features job),
    or a raw population folder (the generator's tables), built here with the same builder.

    Labels: ``default_12m``; for defaults, LGD = loss / EAD and the CCF measured from the
    application date (nothing drawn) = EAD / limit, from the outcomes' minor-unit columns
    unless the labels table already carries ``lgd`` and ``ccf``.
    """
    from features.catalogue import CATALOGUE_VERSION, feature_names, get
    from models.fairness import PROTECTED_ATTRIBUTES, model_inputs

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
    lgd, ccf, drawn, limit, ead = _loss_labels(merged, y == 1)
    time_col = merged["application_date"] if "application_date" in merged.columns else None
    decision = _decision(merged, path)
    attributes = _protected_attributes(merged, path)
    monitored = merged[names].astype(np.float64)
    names, proxies = model_inputs(merged[names], {"age_years": merged["age_years"]})
    return TrainingData(
        name=path.name,
        monitored=monitored,
        attributes=attributes,
        excluded_inputs={
            "protected": [c for c in PROTECTED_ATTRIBUTES if c in feats.columns],
            "near_proxies": proxies,
        },
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
        decision=decision,
    )


def _decision(merged: pd.DataFrame, path: Path) -> np.ndarray | None:
    """The past decision (``approved``) from the labels, or from the raw applications table."""
    from models.reject_inference import DECISION_COLUMN

    if DECISION_COLUMN in merged.columns:
        return merged[DECISION_COLUMN].astype(bool).to_numpy()
    applications = path / "applications.parquet"
    if applications.is_file():
        table = _read_parquet(applications)
        if DECISION_COLUMN in table.columns:
            found = merged[["application_id"]].merge(
                table[["application_id", DECISION_COLUMN]], on="application_id", how="left"
            )
            return found[DECISION_COLUMN].fillna(False).astype(bool).to_numpy()
    return None


# --------------------------------------------------------------------------------------------
# splits


OOT_FRACTION = 0.2
"""Share of the latest applications held out of time when the data has dates but no cut."""


MIN_TEST_BADS = 10
"""The out-of-time window is widened back in time until it holds at least this many defaults."""


def _time_cut(dates: np.ndarray, y: np.ndarray, test_fraction: float) -> np.datetime64:
    """The latest cut date leaving ≥ ``test_fraction`` of rows and ≥ MIN_TEST_BADS defaults after it
    (at most half the rows: older vintages must still train)."""
    order = np.argsort(dates, kind="mergesort")
    days = dates[order].astype("datetime64[D]")
    bads_after = np.cumsum(y[order][::-1])[::-1]  # defaults at or after each sorted position
    start = min(int(np.floor((1.0 - test_fraction) * days.size)), days.size - 1)
    floor = days.size // 2
    pos = start
    while pos > floor and bads_after[pos] < MIN_TEST_BADS:
        pos -= max(1, days.size // 100)
    return days[max(pos, floor)]


def split_indices(
    data: TrainingData, test_fraction: float = OOT_FRACTION, seed: int = 42
) -> tuple[np.ndarray, np.ndarray]:
    """Out of time at the source's ``test_from`` when it says where the test period starts, or,
    with ``data.out_of_time``, at the application date that leaves the latest ``test_fraction``
    of applications (widened back until it holds MIN_TEST_BADS defaults) for validation.
    Stratified random otherwise."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(data.y))
    if data.time is not None and (data.test_from or data.out_of_time):
        dates = pd.to_datetime(data.time).to_numpy()
        if data.test_from:
            cut = np.datetime64(pd.Timestamp(data.test_from))
        else:
            cut = _time_cut(dates, np.asarray(data.y), test_fraction)
        is_test = dates >= cut
        if is_test.any() and not is_test.all():
            return idx[~is_test], idx[is_test]
    tr, te = train_test_split(idx, test_size=test_fraction, stratify=data.y, random_state=seed)
    return np.sort(tr), np.sort(te)


def split_name(data: TrainingData, te: np.ndarray) -> str:
    if data.time is not None and te.size and te.size < len(data.y):
        dates = pd.to_datetime(data.time)
        return (
            "out_of_time"
            if dates.iloc[te].min() >= dates.drop(dates.index[te]).max()
            else "stratified_random_80_20"
        )
    return "stratified_random_80_20"


def _check_classes(y: np.ndarray, where: str) -> None:
    n_bad = int(np.sum(y))
    if n_bad < 5 or y.size - n_bad < 5:
        raise InputError(
            f"{where} has {n_bad} bads in {y.size} rows: too few of one class to fit", field="target"
        )


# --------------------------------------------------------------------------------------------
# training


def pd_estimator(data: TrainingData, **overrides: Any) -> Any:
    """The LightGBM candidate alone (the Dask path and tests); threads per ``models.threads``."""
    from models.pd_model import LightGBMPD

    params: dict[str, Any] = {"monotone": data.monotone, "categorical": data.categorical}
    params.update(data.pd_params)
    params.update(overrides)
    return LightGBMPD(**params)


def _dask_fit(data: TrainingData, X: pd.DataFrame, y: np.ndarray, rounds: int, scheduler: str | None) -> Any:
    from dask.distributed import Client, LocalCluster

    model = pd_estimator(data)
    if scheduler:
        with Client(scheduler) as dask_client:
            return model.fit_dask(X, y, dask_client, n_estimators=rounds)
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None, processes=True) as cluster,
        Client(cluster) as dask_client,
    ):
        return model.fit_dask(X, y, dask_client, n_estimators=rounds)


@dataclass
class PDFit:
    """The fitted PD and its scores; ``model`` is a ``SelectedPD`` (or the Dask LightGBM, or
    the reject-inference LightGBM)."""

    model: Any
    pd_train: np.ndarray
    pd_test: np.ndarray
    selection: dict[str, Any] | None = None
    dask: dict[str, Any] | None = None
    reject_inference: dict[str, Any] | None = None

    @property
    def kind(self) -> str:
        if self.selection:
            return str(self.selection["selected"])
        if self.reject_inference:
            return f"lightgbm_reject_inference_{self.reject_inference['method']}"
        return "lightgbm_dask"


def check_reject_inference(data: TrainingData) -> None:
    """Reject inference needs the past decision per row; a data set without one is bad input."""
    from models.reject_inference import DECISION_COLUMN, METHODS

    if data.reject_inference is None:
        return
    if data.reject_inference not in METHODS:
        raise InputError(
            f"--reject-inference must be one of {', '.join(METHODS)}, got {data.reject_inference!r}",
            field="reject_inference",
        )
    if data.decision is None:
        raise InputError(
            f"reject inference needs a decision column {DECISION_COLUMN!r} (True = approved) in the "
            "labels or applications; or give --legacy-approval-rate to replay the legacy policy",
            field=DECISION_COLUMN,
        )
    decided = np.asarray(data.decision, dtype=bool)
    if decided.all() or not decided.any():
        raise InputError(
            f"{DECISION_COLUMN!r} must hold both approved and declined rows", field=DECISION_COLUMN
        )


def _fit_pd_ri(data: TrainingData, tr: np.ndarray, te: np.ndarray, progress: Progress) -> PDFit:
    """The PD learnt as a platform sees its data (outcomes of approved applicants only),
    corrected by ``data.reject_inference``; scored on every test applicant (the truth the
    generated population holds for the declined) against the approved-only model."""
    from models.reject_inference import fit_method, population_metrics

    assert data.decision is not None
    X_tr, y_tr, approved = data.X.iloc[tr], data.y[tr].astype(np.float64), data.decision[tr]
    X_te, y_te, approved_te = data.X.iloc[te], data.y[te], data.decision[te]
    progress(f"fitting the approved-only PD and the {data.reject_inference} PD")
    base = fit_method("approved_only", X_tr, y_tr, approved, monotone=data.monotone)
    method = str(data.reject_inference)
    model = base if method == "approved_only" else fit_method(
        method, X_tr, y_tr, approved, monotone=data.monotone, reject_factor=data.reject_factor, base=base
    )  # fmt: skip
    pd_te, base_te = model.predict_pd(X_te), base.predict_pd(X_te)
    baseline = {
        "all_applicants": population_metrics(y_te, base_te),
        "approved_applicants": population_metrics(y_te[approved_te], base_te[approved_te]),
    }
    summary = {
        "method": method, "reject_factor": data.reject_factor,
        "approval_rate_train": float(np.mean(approved)), "approval_rate_test": float(np.mean(approved_te)),
        "all_applicants": population_metrics(y_te, pd_te),
        "approved_applicants": population_metrics(y_te[approved_te], pd_te[approved_te]),
        "approved_only_model": baseline,
    }  # fmt: skip
    return PDFit(model, model.predict_pd(X_tr), pd_te, reject_inference=summary)


def _not_governable(model: Any, data: TrainingData, X_tr: pd.DataFrame) -> str | None:
    """Why the selected scorecard or blend cannot be registered (None if it can): it must be
    monotone where the catalogue says so and its numpy bundle must give the same PDs. Checked
    on training rows only (the shape of the function, not the labels), so the test stays out."""
    from models.bundle import PDScorer, save_pd_bundle
    from models.validation import monotonicity_check

    if model.choice_ == "lightgbm":
        return None
    mono = monotonicity_check(model.predict_pd, X_tr, data.monotone)
    bad = [k for k, v in mono.items() if not v["ok"]]
    if bad:
        return f"not monotone in {', '.join(bad[:3])}"
    with tempfile.TemporaryDirectory() as tmp:
        scorer = PDScorer.load(save_pd_bundle(model, Path(tmp) / "pd"))
        rows = X_tr.head(500)
        if not np.allclose(
            scorer.model_pd(scorer.encoder.transform(rows)), model.predict_pd(rows), rtol=1e-6
        ):
            return "its bundle does not reproduce its PDs"
    return None


def _fit_pd(
    data: TrainingData, tr: np.ndarray, te: np.ndarray, *, dask: bool, scheduler: str | None,
    budget: Budget | None, progress: Progress,
) -> PDFit:  # fmt: skip
    """Select the PD model on the training rows; with ``dask`` compare and keep the Dask LightGBM."""
    from models.metrics import auc

    X_tr, X_te, y_tr = data.X.iloc[tr], data.X.iloc[te], data.y[tr]
    if data.reject_inference:
        return _fit_pd_ri(data, tr, te, progress)
    if not dask:
        progress("selecting the PD model (tuned LightGBM, WoE scorecard, blend) by inner CV")
        model = selector(data, budget).fit(X_tr, y_tr)
        problem = _not_governable(model, data, X_tr)
        if problem:  # a registered PD must be monotone and reproduce from its bundle; LightGBM is
            progress(f"{model.choice_} not governable ({problem}); keeping LightGBM")
            model.choice_ = "lightgbm"
        summary = {**model.selection_summary(), "fallback_reason": problem}
        return PDFit(model, model.predict_pd(X_tr), model.predict_pd(X_te), selection=summary)
    progress("fitting the LightGBM PD in process, then on Dask (lightgbm.dask, fixed rounds)")
    local = pd_estimator(data).fit(X_tr, y_tr)
    distributed = _dask_fit(data, X_tr, y_tr, local.best_iteration_, scheduler)
    in_process_auc, dask_auc = (
        auc(data.y[te], local.predict_pd(X_te)),
        auc(data.y[te], distributed.predict_pd(X_te)),
    )
    summary = {"auc_in_process": in_process_auc, "auc_dask": dask_auc, "auc_diff": dask_auc - in_process_auc}
    return PDFit(distributed, distributed.predict_pd(X_tr), distributed.predict_pd(X_te), dask=summary)


def vintage_table(
    dates: pd.Series | None, y: np.ndarray, pd_: np.ndarray, sample: np.ndarray
) -> list[dict[str, Any]]:
    """Calibration and discrimination by application year, labelled in-time or out-of-time."""
    from models.metrics import auc

    if dates is None:
        return []
    frame = pd.DataFrame(
        {"year": pd.to_datetime(dates).dt.year.to_numpy(), "y": y, "pd": pd_, "sample": sample}
    )
    rows = []
    for (year, kind), part in frame.groupby(["year", "sample"], sort=True):
        both = 0 < part["y"].sum() < len(part)
        rows.append({
            "vintage": int(year), "sample": str(kind), "n": len(part), "defaults": int(part["y"].sum()),
            "observed_rate": float(part["y"].mean()), "mean_pd": float(part["pd"].mean()),
            "auc": auc(part["y"], part["pd"]) if both else None,
        })  # fmt: skip
    return rows


def _pd_report(data: TrainingData, fit: PDFit, tr: np.ndarray, te: np.ndarray) -> dict[str, Any]:
    """The PD validation pack: hold-out metrics, selection, in-time vs out-of-time, vintages, MoC."""
    from models.conservatism import apply_moc, moc_record
    from models.validation import calibration_by_grade, monotonicity_check, validate_pd
    from models.validation_report import pd_sensitivity

    y_tr, y_te, X_te = data.y[tr], data.y[te], data.X.iloc[te]
    candidates = fit.model.candidate_pd(X_te) if fit.selection else {}
    mono = monotonicity_check(fit.model.predict_pd, X_te, data.monotone)
    report = validate_pd(y_te, fit.pd_test, pd_train=fit.pd_train, pd_challenger=candidates.get("scorecard"),
                         monotonicity=mono)  # fmt: skip
    split = split_name(data, te)
    top = getattr(fit.model, "lightgbm_", fit.model).feature_importance()["feature"].head(5).tolist()
    report["sensitivity"] = pd_sensitivity(fit.model.predict_pd, X_te, top)
    moc = moc_record(y_te, fit.pd_test, sample=split)
    with_moc = apply_moc(fit.pd_test, moc)
    report.update({
        "dataset": data.name, "split": split, "n_train": len(tr), "n_test": len(te),
        "catalogue_version": data.catalogue_version, "data_fingerprint": data_fingerprint(data.X, data.y),
        "pd_model": fit.kind, "selection": fit.selection, "dask": fit.dask, "moc": moc,
        "reject_inference": fit.reject_inference,
        "candidates_test_auc": {k: _pd_metrics(y_te, v)["auc"] for k, v in candidates.items()},
        "jeffreys_pass_share_with_moc": float(calibration_by_grade(y_te, with_moc)["jeffreys_pass"].mean()),
        "mean_pd_with_moc": float(with_moc.mean()),
    })  # fmt: skip
    if fit.selection:
        report["auc_in_time"] = fit.selection["inner_auc"][fit.selection["selected"]]
        report["auc_out_of_time" if split == "out_of_time" else "auc_holdout"] = report["auc"]
    if data.time is not None:
        in_time = fit.model.oof_pd_ if hasattr(fit.model, "oof_pd_") else fit.pd_train
        report["vintages"] = vintage_table(
            pd.concat([data.time.iloc[tr], data.time.iloc[te]]),
            np.r_[y_tr, y_te],
            np.r_[in_time, fit.pd_test],
            np.r_[np.full(len(tr), "in_time_oof"), np.full(len(te), split)],
        )  # fmt: skip
    return report


@dataclass
class LossFit:
    lgd: Any = None
    ead: Any = None
    lgd_example: pd.DataFrame | None = None
    report: dict[str, Any] = field(default_factory=dict)


def _fit_lgd(data: TrainingData, tr: np.ndarray, te: np.ndarray, progress: Progress) -> LossFit:
    from models.lgd import FractionalLogitLGD, MeanLGD, TwoStageLGD
    from models.validation import validate_lgd

    assert data.lgd is not None
    progress("fitting LGD (two-stage) and its baselines")
    lgd_tr, lgd_te = np.isfinite(data.lgd[tr]), np.isfinite(data.lgd[te])
    if lgd_tr.sum() < 20 or lgd_te.sum() < 5:
        raise InputError(
            f"only {int(lgd_tr.sum())} train / {int(lgd_te.sum())} test defaults with a loss share: "
            "too few to fit and validate LGD; generate a larger population",
            field="labels",
        )
    X_tr, X_te = data.X.iloc[tr], data.X.iloc[te]
    XL_tr, yl_tr = X_tr[lgd_tr], data.lgd[tr][lgd_tr]
    XL_te, yl_te = X_te[lgd_te], data.lgd[te][lgd_te]
    model = TwoStageLGD(categorical=data.categorical, min_child_samples=max(5, min(40, len(yl_tr) // 20)))
    model.fit(XL_tr, yl_tr)
    predictions = {
        "two_stage": model.predict(XL_te),
        "mean": MeanLGD().fit(XL_tr, yl_tr).predict(XL_te),
        "fractional_logit": FractionalLogitLGD(categorical=data.categorical).fit(XL_tr, yl_tr).predict(XL_te),
    }
    report = {
        "lgd": validate_lgd(yl_te, predictions),
        "lgd_defaults": {"train": len(yl_tr), "test": len(yl_te)},
    }
    return LossFit(lgd=model, lgd_example=X_tr.head(5), report=report)


def _ead_report(
    data: TrainingData, tr: np.ndarray, te: np.ndarray, pd_tr: np.ndarray, pd_te: np.ndarray
) -> dict[str, Any]:
    """Fit the CCF by grade on the training defaults and check it on the hold-out's (issue 13).

    The CCF is measured from the application date (nothing drawn), weighted by the limit, so
    the decision's EAD = CCF × limit sums to the realised EAD: ``ead_sum_ratio`` = Σ
    predicted / Σ realised EAD over the hold-out's defaults (target 1 ± 0.05).

    Out of time, the hold-out and the next applications come after the training data, so the
    training defaults are also weighted by recency, with the half-life a backtest on the
    training defaults alone picks (``models.ead.select_half_life``); the hold-out stays unseen.
    """
    from models.ead import CCFByGrade, recency_weights, select_half_life
    from models.master_scale import grade_of

    assert data.ccf is not None
    weight = data.limit if data.limit is not None else np.ones(len(data.ccf))
    fit_rows = np.isfinite(data.ccf[tr])
    grades_tr, ccf_tr, weight_tr = grade_of(pd_tr[fit_rows]), data.ccf[tr][fit_rows], weight[tr][fit_rows]
    half_life: float | None = None
    backtest: dict[str, float] = {}
    if data.time is not None and split_name(data, te) == "out_of_time":
        days = pd.to_datetime(data.time).to_numpy().astype("datetime64[D]").astype(np.float64)
        days_tr = days[tr][fit_rows]
        half_life, backtest = select_half_life(grades_tr, ccf_tr, weight_tr, days_tr)
        weight_tr = weight_tr * recency_weights(days_tr, float(days[tr].max()), half_life)
    model = CCFByGrade().fit(grades_tr, ccf_tr, sample_weight=weight_tr)
    out: dict[str, Any] = {
        "model": model,
        "ccf_by_grade": [float(v) for v in model.ccf_by_grade_],
        "pooled_ccf": model.pooled_ccf_,
        "ccf_half_life_years": half_life,
        "ccf_half_life_backtest": backtest,
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


def check_fairness_attributes(data: TrainingData) -> list[str]:
    """The protected attributes the data carries; a requested one it lacks is bad input."""
    available = [] if data.attributes is None else [str(c) for c in data.attributes.columns]
    missing = [a for a in data.fairness_attributes or [] if a not in available]
    if missing:
        raise InputError(
            f"fairness attribute {missing[0]!r} is not in the data "
            f"(available: {', '.join(available) or 'none'})",
            field="fairness_attribute",
        )
    return available


def fairness_report(
    data: TrainingData, te: np.ndarray, pd_test: np.ndarray, lgd_test: np.ndarray | None
) -> dict[str, Any]:
    """Adverse-impact ratios of approval (the default policy's acceptable grades) and of the
    risk-based rate (the rate ``pricing.decision.quote`` gives at the model's PD and LGD) by age
    band and region."""
    from models.fairness import adverse_impact
    from models.master_scale import grade_of
    from pricing.decision import quote
    from pricing.policy import load_policy

    available = check_fairness_attributes(data)
    if data.attributes is None:
        return {}
    policy = load_policy()
    approved = grade_of(pd_test) <= policy.grades.acceptable_max_grade
    rate = None
    if lgd_test is not None:  # the rate a decision quotes (per unit of exposure: EAD 1)
        rate = quote(pd_test, lgd_test, np.ones(len(pd_test)), policy)["annual_rate"]
    out: dict[str, Any] = {"policy": policy.version, "approval_rate": float(approved.mean()),
                           "excluded_inputs": data.excluded_inputs}  # fmt: skip
    for attribute in data.fairness_attributes or available:
        groups = data.attributes[attribute].to_numpy()[te]
        out[attribute] = adverse_impact(approved, groups, rate)
    return out


REPORT_DIR = "validation_report"


def _write_report(report: dict[str, Any], work: Path) -> Path:
    """The HTML validation report beside the pack; training stops (nothing registered) if it fails."""
    from models.validation import MIN_JEFFREYS_PASS_SHARE, promotion_gate
    from models.validation_report import render

    gate = promotion_gate(
        challenger_auc=report["auc"],
        champion_auc=None,
        jeffreys_pass_share=report["jeffreys_pass_share_with_moc"],
        monotonicity_ok=bool(report.get("monotonicity_ok", True)),
    )
    out = work / REPORT_DIR / "report.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        render(
            report,
            figures=work / "validation",
            gate={"reasons": gate.reasons, "min_jeffreys": MIN_JEFFREYS_PASS_SHARE},
        )
    )
    return out


def _write_bundles(
    data: TrainingData,
    fit: PDFit,
    loss: LossFit,
    report: dict[str, Any],
    te: np.ndarray,
    out_dir: Path | None,
) -> Path:
    """Bundles, validation pack, hold-out and monitoring reference, published atomically."""
    from creditdesk.atomic import atomic_dir
    from models.bundle import INSTRUMENTS_FILE, save_ead_bundle, save_lgd_bundle, save_pd_bundle
    from models.conservatism import apply_moc
    from models.validation import write_validation_pack
    from monitoring.reference import build_reference

    stamp = time.strftime("%Y%m%dT%H%M%S")
    final_dir = out_dir or get_settings().var_dir / "models" / f"{data.name}-{stamp}"
    y_te, X_te = data.y[te], data.X.iloc[te]
    with atomic_dir(final_dir) as work:  # the whole folder appears complete or not at all
        write_validation_pack(
            report, work / "validation", y_test=y_te, pd_test=fit.pd_test, pd_train=fit.pd_train
        )
        _write_report(report, work)
        getattr(fit.model, "lightgbm_", fit.model).feature_importance().to_csv(
            work / "feature_importance.csv", index=False
        )
        save_pd_bundle(fit.model, work / "pd", descriptions=data.descriptions,
                       catalogue_version=data.catalogue_version, moc=report["moc"])  # fmt: skip
        if data.instruments is not None:
            data.instruments.to_parquet(work / "pd" / INSTRUMENTS_FILE, index=False)
        if loss.lgd is not None and loss.ead is not None:
            save_lgd_bundle(loss.lgd, work / "lgd")
            save_ead_bundle(loss.ead, work / "ead")
        X_te.assign(__target__=y_te).to_parquet(work / "holdout.parquet")
        # The monitoring reference: the hold-out's features, scores and grades (out-of-sample
        # scores, so the report's reference AUC is not optimistic), logged with the run. The
        # scores are what every scorer serves, PD + MoC (grades from it): before the MoC they
        # put the demo's score stability at PSI 3.8 against the served PDs.
        monitored = X_te if data.monitored is None else data.monitored.iloc[te]
        build_reference(
            monitored.reset_index(drop=True), pd_12m=apply_moc(fit.pd_test, report["moc"]), default_12m=y_te,
            application_date=None if data.time is None else data.time.iloc[te].to_numpy(),
        ).to_parquet(work / "reference.parquet", index=False)  # fmt: skip
    return final_dir


SUMMARY_KEYS = (
    "dataset", "n", "bad_rate", "auc", "gini", "ks", "brier", "ece", "auc_scorecard", "jeffreys_pass_share",
    "jeffreys_pass_share_with_moc", "psi_train_test", "monotonicity_ok", "split", "pd_model", "auc_in_time",
    "auc_out_of_time", "auc_holdout", "candidates_test_auc",
)  # fmt: skip


def train(
    data: TrainingData,
    *,
    register: bool = True,
    dask: bool = False,
    scheduler: str | None = None,
    tracking_uri: str | None = None,
    out_dir: Path | None = None,
    budget: Budget | None = None,
    progress: Progress = _noop,
) -> dict[str, Any]:
    """Select and fit the PD, fit LGD and EAD; validate; write the pack; log and register.

    PD, LGD and EAD are registered together (one run ties their versions): data without loss
    labels (the public datasets) is logged but not registered, and the summary says so.
    """
    started = time.perf_counter()
    check_fairness_attributes(data)  # a bad attribute name fails before any fit
    check_reject_inference(data)
    tr, te = split_indices(data)
    if data.reject_inference:  # a platform knows outcomes of its approved applicants only
        assert data.decision is not None
        _check_classes(data.y[tr][data.decision[tr]], "the approved applicants of the training split")
    _check_classes(data.y[tr], "the training split")
    _check_classes(data.y[te], "the test split")
    fit = _fit_pd(data, tr, te, dask=dask, scheduler=scheduler, budget=budget, progress=progress)
    progress("validating")
    report = _pd_report(data, fit, tr, te)
    loss = LossFit()
    if data.has_loss_data:
        # losses, like defaults, are known for approved applicants only under reject inference
        seen = tr[data.decision[tr]] if data.reject_inference and data.decision is not None else tr
        loss = _fit_lgd(data, seen, te, progress)
        progress("estimating CCF by grade")
        report.update(loss.report)
        pd_seen = fit.pd_train if seen is tr else fit.model.predict_pd(data.X.iloc[seen])
        report["ead"] = _ead_report(data, seen, te, pd_seen, fit.pd_test)
        loss.ead = report["ead"].pop("model")
    lgd_test = None if loss.lgd is None else loss.lgd.predict(data.X.iloc[te])
    report["fairness"] = fairness_report(data, te, fit.pd_test, lgd_test)
    progress("writing the validation pack")
    final_dir = _write_bundles(data, fit, loss, report, te, out_dir)
    summary: dict[str, Any] = {k: report.get(k) for k in SUMMARY_KEYS}
    summary.update({"n_train": len(tr), "n_test": len(te), "out_dir": str(final_dir), "dask": fit.dask})
    summary["selection"] = fit.selection
    summary["reject_inference"] = fit.reject_inference
    if "lgd" in report:
        summary["lgd"] = report["lgd"]
    if "ead" in report:
        summary["ead_total_ratio_by_grade"] = report["ead"]["total_ead_ratio_by_grade"]
        summary["ead_sum_ratio"] = report["ead"]["ead_sum_ratio"]
        summary["ead_ccf_half_life_years"] = report["ead"]["ccf_half_life_years"]
    if not register:
        summary["registration"] = "not asked (--no-register)"
    elif loss.lgd is None:
        summary["registration"] = "skipped: no LGD/EAD labels in this data (PD, LGD, EAD register together)"
    else:
        summary["registration"] = "registered"
    progress("logging to MLflow")
    summary.update(_log_run(data, fit, report, final_dir, register=register and loss.lgd is not None,
                            pd_example=data.X.iloc[tr].head(5), lgd_example=loss.lgd_example,
                            tracking_uri=tracking_uri))  # fmt: skip
    summary["seconds"] = round(time.perf_counter() - started, 1)
    return summary


def _flat_metrics(report: dict[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for key in ("auc", "gini", "ks", "brier", "ece", "auc_scorecard", "jeffreys_pass_share", "psi_train_test",
                "bad_rate", "mean_pd", "auc_in_time", "auc_out_of_time", "auc_holdout",
                "jeffreys_pass_share_with_moc", "mean_pd_with_moc"):  # fmt: skip
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


def _run_params(fit: PDFit, report: dict[str, Any]) -> dict[str, Any]:
    lgbm = getattr(fit.model, "lightgbm_", fit.model)
    params = {f"pd_lgb_{k}": v for k, v in lgbm.get_params().items() if k not in ("monotone", "categorical")}
    params.update({
        "pd_model": report["pd_model"], "pd_best_iteration": lgbm.best_iteration_,
        "pd_calibration": lgbm.calibration_.method, "n_train": report["n_train"], "n_test": report["n_test"],
        "split": report["split"], "n_features": lgbm.n_features_in_,
    })  # fmt: skip
    return params


def _log_run(
    data: TrainingData,
    fit: PDFit,
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
        mlflow.log_params(_run_params(fit, report))
        mlflow.log_dict({"monotone": data.monotone, "categorical": data.categorical}, "constraints.json")
        mlflow.log_dict({"selection": fit.selection, "moc": report["moc"]}, "selection.json")
        mlflow.log_metrics(_flat_metrics(report))
        mlflow.set_tags(
            {
                "dataset": data.name,
                "data_fingerprint": report["data_fingerprint"],
                "catalogue_version": str(data.catalogue_version),
                "pd_model": report["pd_model"],
            }
        )
        mlflow.log_artifacts(str(bundle_dir / "validation"), artifact_path="validation")
        mlflow.log_artifacts(str(bundle_dir / REPORT_DIR), artifact_path=REPORT_DIR)
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
                    "pd_model": report["pd_model"],
                    **_reasons_parity(bundle_dir),  # h16: the TreeSHAP parity gate at registration
                },
            )
    return {"tracking_uri": uri, "run_id": run.info.run_id, "registered": versions}


def _reasons_parity(bundle_dir: Path) -> dict[str, str]:
    """The TreeSHAP tables' parity with native ``pred_contrib`` on the hold-out, as a tag."""
    from models.bundle import PDScorer
    from models.reasons import parity_tags
    from models.registry import HOLDOUT_TARGET

    scorer = PDScorer.load(bundle_dir / "pd")
    holdout = pd.read_parquet(bundle_dir / "holdout.parquet").drop(columns=[HOLDOUT_TARGET])
    return parity_tags(scorer.booster, scorer.encoder.transform(holdout))


# --------------------------------------------------------------------------------------------
# benchmark


def _outer_splits(data: TrainingData, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified K-fold with shuffle (random_state 42, as the README's reference figures), or
    one out-of-time split where the data says where the test period starts."""
    from sklearn.model_selection import StratifiedKFold

    if data.test_from:
        return [split_indices(data)]
    if folds < 2:
        raise InputError("--folds must be at least 2", field="folds")
    return list(StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(data.X, data.y))


def _pd_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    from models import metrics
    from models.validation import calibration_by_grade

    return {
        "auc": metrics.auc(y, p),
        "gini": metrics.gini(y, p),
        "ks": metrics.ks_statistic(y, p),
        "brier": metrics.brier(y, p),
        "ece": metrics.expected_calibration_error(y, p),
        "jeffreys_pass_share": float(calibration_by_grade(y, p)["jeffreys_pass"].mean()),
    }


def selector(data: TrainingData, budget: Budget | None = None, **overrides: Any) -> Any:
    """The PD model selection (tuned LightGBM, WoE scorecard, blend) with this data's constraints."""
    from models.selection import SelectedPD

    budget = budget or Budget()
    params: dict[str, Any] = {"monotone": data.monotone, "categorical": data.categorical,
                              "trials": budget.trials, "seconds": budget.seconds}  # fmt: skip
    if data.pd_params:
        params["lgb_params"] = dict(data.pd_params)
    if not data.challenger:
        params["candidates"] = ("lightgbm",)
    if data.candidates:
        params["candidates"] = tuple(data.candidates)
    params.update(overrides)
    return SelectedPD(**params)


def benchmark(
    data: TrainingData,
    *,
    folds: int = 5,
    seed: int = 42,
    budget: Budget | None = None,
    progress: Progress = _noop,
) -> dict[str, Any]:
    """Nested evaluation of the PD selection: pooled out-of-fold metrics of the selected model
    and of every candidate on the same outer folds. The choice inside each outer fold is made
    by inner CV on that fold's training rows only, so the outer AUC is an honest estimate of
    what the selection procedure delivers."""
    from models.master_scale import grade_of
    from models.selection import CANDIDATES

    started = time.perf_counter()
    splits = _outer_splits(data, folds, seed)
    selected = np.full(len(data.y), np.nan)
    cand = {k: np.full(len(data.y), np.nan) for k in CANDIDATES}
    per_fold: list[dict[str, Any]] = []
    for k, (tr, te) in enumerate(splits, start=1):
        _check_classes(data.y[tr], f"fold {k} training rows")
        progress(f"fold {k}/{len(splits)}: tuning and selecting on the training rows")
        fold_started = time.perf_counter()
        model = selector(data, budget, random_state=seed).fit(data.X.iloc[tr], data.y[tr])
        for name, p in model.candidate_pd(data.X.iloc[te]).items():
            cand[name][te] = p
        selected[te] = cand[model.choice_][te]
        per_fold.append(
            {**model.selection_summary(), "fold": k, "seconds": round(time.perf_counter() - fold_started, 1)}
        )
    scored = np.isfinite(selected)
    y, p = data.y[scored], selected[scored]
    result: dict[str, Any] = {
        "dataset": data.name,
        "validation": "out_of_time" if data.test_from else f"stratified_{len(splits)}_fold",
        "folds": len(splits),
        "n": int(scored.sum()),
        "bad_rate": float(y.mean()),
        **_pd_metrics(y, p),
        "grades_used": int(np.unique(grade_of(p)).size),
        "candidates": {
            name: _pd_metrics(y, v[scored]) for name, v in cand.items() if np.isfinite(v[scored]).all()
        },
        "selected_per_fold": [f["selected"] for f in per_fold],
        "per_fold": per_fold,
    }
    result["auc_scorecard"] = result["candidates"].get("scorecard", {}).get("auc")
    result["brier_best_candidate"] = min(c["brier"] for c in result["candidates"].values())
    result["seconds"] = round(time.perf_counter() - started, 1)
    return result


def dumps(summary: dict[str, Any]) -> str:
    """One-line JSON (NaN → null) for ``--json``."""
    from creditdesk.jsonsafe import json_safe

    return json.dumps(json_safe(summary), separators=(",", ":"), sort_keys=True)
