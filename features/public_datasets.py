"""Loaders for the public credit datasets and for any CSV described by a YAML spec.

Each loader returns ``(frame, spec)``: ``frame`` holds the feature columns, the target
already mapped to 0 (good) / 1 (bad) under the spec's target name, and the time column if
the spec has one; categorical columns are pandas ``category``. ``spec`` says which column
is which, so model code never hard-codes a dataset. Every file and spec problem raises
``InputError`` naming the file or column and the rule, before any model sees the data.

The four built-in specs live in ``features/specs/*.yaml``; a user brings their own data
with ``load_csv(path, spec_path)`` and the same YAML keys.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from creditdesk.errors import InputError
from creditdesk.settings import get_settings

SPECS_DIR = Path(__file__).resolve().parent / "specs"
BUILTIN = ("german", "taiwan", "gmsc", "lending_club")


class DatasetSpec(BaseModel):
    """What a table means for credit modelling. Unknown keys are refused (typos matter)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    target: str = Field(description="column holding the outcome")
    bad_values: list[Any] | None = Field(
        default=None,
        description="target values that mean default; required unless the target is already 0/1",
    )
    categorical: list[str] = Field(default_factory=list)
    drop: list[str] = Field(default_factory=list, description="columns never used as features (ids, leaks)")
    monotone: dict[str, Literal[-1, 0, 1]] = Field(
        default_factory=dict, description="expected direction of PD in each feature: +1 up, -1 down"
    )
    time_column: str | None = Field(default=None, description="for out-of-time validation")
    test_from: str | None = Field(
        default=None, description="with time_column: rows at or after this date form the out-of-time test"
    )
    name: str | None = None
    description: str | None = None
    file: str | None = Field(default=None, description="path relative to the datasets folder (built-ins)")
    sep: str = ","
    column_names: list[str] | None = Field(default=None, description="header for files that have none")

    def feature_columns(self, frame: pd.DataFrame) -> list[str]:
        """Model inputs: every column but the target and the time column, in frame order."""
        excluded = {self.target, self.time_column}
        return [c for c in frame.columns if c not in excluded]


def read_spec(path: str | Path) -> DatasetSpec:
    """Parse a YAML spec; a missing file, bad YAML or an unknown key raise ``InputError``."""
    spec_path = Path(path)
    if not spec_path.is_file():
        raise InputError(f"spec file not found: {spec_path}", field="spec")
    try:
        raw = yaml.safe_load(spec_path.read_text())
    except yaml.YAMLError as exc:
        raise InputError(f"spec {spec_path} is not valid YAML: {exc}", field="spec") from None
    if not isinstance(raw, dict):
        raise InputError(f"spec {spec_path} must be a mapping with at least `target`", field="spec")
    try:
        return DatasetSpec.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "spec"
        raise InputError(f"spec {spec_path}: {where}: {first['msg']}", field="spec") from None


def builtin_spec(name: str) -> DatasetSpec:
    if name not in BUILTIN:
        raise InputError(f"unknown dataset {name!r}; choose one of {', '.join(BUILTIN)}", field="dataset")
    return read_spec(SPECS_DIR / f"{name}.yaml")


def _read_table(path: Path, spec: DatasetSpec) -> pd.DataFrame:
    if not path.is_file():
        raise InputError(f"data file not found: {path}", field="csv")
    try:
        if spec.column_names is not None:
            frame = pd.read_csv(path, sep=spec.sep, header=None, names=spec.column_names, low_memory=False)
        else:
            frame = pd.read_csv(path, sep=spec.sep, low_memory=False)
    except pd.errors.EmptyDataError:
        raise InputError(f"data file is empty: {path}", field="csv") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"cannot parse {path}: {' '.join(str(exc).split())}", field="csv") from None
    if frame.empty:
        raise InputError(f"data file has no rows: {path}", field="csv")
    return frame


def apply_spec(frame: pd.DataFrame, spec: DatasetSpec, source: str = "data") -> pd.DataFrame:
    """Check ``frame`` against ``spec`` and return the modelling frame.

    The target becomes int 0/1 (1 = bad); drop columns go; categorical columns become
    ``category``; the time column becomes datetime. Refused: an empty frame, a column the
    spec names but the data lacks, a missing target value, a target with one class, a
    non-binary target without ``bad_values``, a non-numeric feature not declared
    categorical, a time column that does not parse.
    """
    if frame.empty:
        raise InputError(f"{source} has no rows", field="csv")
    named = {spec.target, *spec.categorical, *spec.drop, *spec.monotone}
    if spec.time_column:
        named.add(spec.time_column)
    missing = sorted(c for c in named if c not in frame.columns)
    if missing:
        raise InputError(
            f"{source} lacks column(s) named in the spec: {', '.join(missing)}", field=missing[0]
        )
    if spec.test_from and not spec.time_column:
        raise InputError("spec sets test_from without a time_column", field="test_from")
    overlap = set(spec.monotone) & set(spec.categorical)
    if overlap:
        raise InputError(f"monotone directions on categorical column(s): {sorted(overlap)}", field="monotone")

    out = frame.drop(columns=[c for c in spec.drop if c != spec.target])
    target = out[spec.target]
    if target.isna().any():
        raise InputError(
            f"target {spec.target!r} has {int(target.isna().sum())} missing values", field="target"
        )
    if spec.bad_values is not None:
        bad_as_text = {str(v) for v in spec.bad_values}
        y = target.astype(str).isin(bad_as_text).astype(np.int64)
    else:
        values = set(pd.unique(target))
        if not values <= {0, 1}:  # True/False compare equal to 1/0
            shown = sorted(map(str, values))[:5]
            raise InputError(
                f"target {spec.target!r} is not 0/1 (values {shown}); "
                "say which values are bad with bad_values",
                field="bad_values",
            )
        y = target.astype(np.int64)
    if y.nunique() < 2:
        only = "bad" if y.iloc[0] == 1 else "good"
        raise InputError(f"target {spec.target!r} has one class only (every row is {only})", field="target")
    out[spec.target] = y

    for col in spec.categorical:
        out[col] = out[col].astype(str).where(out[col].notna()).astype("category")
    if spec.time_column:
        parsed = pd.to_datetime(out[spec.time_column], errors="coerce")
        if parsed.isna().any():
            raise InputError(
                f"time column {spec.time_column!r} has unparseable or missing dates", field="time_column"
            )
        out[spec.time_column] = parsed
        if spec.test_from:
            cut = pd.Timestamp(spec.test_from)
            if not ((parsed < cut).any() and (parsed >= cut).any()):
                raise InputError(
                    f"test_from {spec.test_from} leaves an empty train or test period", field="test_from"
                )
    for col in spec.feature_columns(out):
        if col in spec.categorical:
            continue
        if not pd.api.types.is_numeric_dtype(out[col]):
            raise InputError(f"column {col!r} is not numeric; list it under categorical or drop", field=col)
        out[col] = out[col].astype(np.float64)
    return out


def load_csv(path: str | Path, spec: DatasetSpec | str | Path) -> tuple[pd.DataFrame, DatasetSpec]:
    """Any CSV (or zipped/gzipped CSV) with a YAML spec: the bring-your-own-data path."""
    spec_obj = spec if isinstance(spec, DatasetSpec) else read_spec(spec)
    data_path = Path(path)
    return apply_spec(_read_table(data_path, spec_obj), spec_obj, source=str(data_path)), spec_obj


def _builtin_path(spec: DatasetSpec, datasets_dir: Path | None) -> Path:
    base = datasets_dir if datasets_dir is not None else get_settings().datasets_dir
    assert spec.file is not None, "built-in specs name their file"
    return Path(base) / spec.file


def load_german(datasets_dir: Path | None = None) -> tuple[pd.DataFrame, DatasetSpec]:
    spec = builtin_spec("german")
    return load_csv(_builtin_path(spec, datasets_dir), spec)


def load_taiwan(datasets_dir: Path | None = None) -> tuple[pd.DataFrame, DatasetSpec]:
    spec = builtin_spec("taiwan")
    return load_csv(_builtin_path(spec, datasets_dir), spec)


def load_gmsc(datasets_dir: Path | None = None) -> tuple[pd.DataFrame, DatasetSpec]:
    spec = builtin_spec("gmsc")
    return load_csv(_builtin_path(spec, datasets_dir), spec)


LENDING_CLUB_APPLICATION_COLUMNS = (
    "loan_amnt", "term", "int_rate", "installment", "grade", "sub_grade", "emp_length", "home_ownership",
    "annual_inc", "verification_status", "purpose", "addr_state", "dti", "delinq_2yrs", "inq_last_6mths",
    "mths_since_last_delinq", "mths_since_last_record", "open_acc", "pub_rec", "revol_bal", "revol_util",
    "total_acc", "pub_rec_bankruptcies",
)  # fmt: skip
"""Known when the loan was listed. Everything about payments, recoveries, the last credit
pull or investor funding happens after the decision and would leak the outcome."""


def _lending_club_raw(datasets_dir: Path | None) -> tuple[pd.DataFrame, DatasetSpec]:
    spec = builtin_spec("lending_club")
    path = _builtin_path(spec, datasets_dir)
    raw = _read_table(path, DatasetSpec(target="loan_status"))
    needed = {
        "loan_status", "issue_d", "earliest_cr_line", "funded_amnt", "total_rec_prncp", "recoveries",
        "collection_recovery_fee", *LENDING_CLUB_APPLICATION_COLUMNS,
    }  # fmt: skip
    missing = sorted(needed - set(raw.columns))
    if missing:
        raise InputError(f"{path} lacks Lending Club column(s): {', '.join(missing)}", field=missing[0])
    return raw, spec


def _lending_club_features(raw: pd.DataFrame) -> pd.DataFrame:
    issue = pd.to_datetime(raw["issue_d"], errors="coerce")
    first_line = pd.to_datetime(raw["earliest_cr_line"], errors="coerce")
    out = raw.loc[:, list(LENDING_CLUB_APPLICATION_COLUMNS)].copy()
    # emp_length is text ("< 1 year", "10+ years", "n/a"): years as a number, NaN when unknown.
    years = raw["emp_length"].astype(str).str.extract(r"(\d+)")[0].astype(float)
    out["emp_length"] = years.where(~raw["emp_length"].astype(str).str.startswith("<"), 0.0)
    out["credit_history_months"] = ((issue - first_line).dt.days / 30.4375).round()
    out["issue_d"] = issue
    return out


def load_lending_club(datasets_dir: Path | None = None) -> tuple[pd.DataFrame, DatasetSpec]:
    """PD frame: application-time features, ``charged_off`` target, ``issue_d`` for the OOT split.

    Rows kept: all four statuses. "Fully Paid" / "Charged Off" and the 2,749 older loans
    flagged "Does not meet the credit policy. Status: Fully Paid / Charged Off" are all real,
    matured loans with an observed outcome, so dropping the latter would only shrink the
    2007-2010 training years; bad = any status ending in "Charged Off". Loans still current
    do not occur in this vintage (all matured), so no row is dropped for being unresolved.
    """
    raw, spec = _lending_club_raw(datasets_dir)
    frame = _lending_club_features(raw)
    frame["charged_off"] = raw["loan_status"].astype(str).str.endswith("Charged Off").astype(np.int64)
    return apply_spec(frame, spec, source="lending_club"), spec


def load_lending_club_loss(datasets_dir: Path | None = None) -> tuple[pd.DataFrame, DatasetSpec]:
    """LGD/EAD frame on charged-off loans: application-time features plus ``ead``, ``lgd``, ``ead_share``.

    EAD = funded_amnt − total_rec_prncp (principal still owed at charge-off);
    LGD = 1 − (recoveries − collection_recovery_fee) / EAD, clipped to [0, 1];
    ead_share = EAD / funded_amnt (a term loan is fully drawn, so this plays the CCF's role).
    Loans with EAD ≤ 0 (nothing owed at charge-off) carry no loss information and are dropped.
    """
    raw, spec = _lending_club_raw(datasets_dir)
    charged = raw["loan_status"].astype(str).str.endswith("Charged Off")
    raw = raw.loc[charged].reset_index(drop=True)
    ead = raw["funded_amnt"].astype(float) - raw["total_rec_prncp"].astype(float)
    net_recovery = raw["recoveries"].astype(float) - raw["collection_recovery_fee"].astype(float)
    keep = ead > 0
    frame = _lending_club_features(raw).loc[keep].reset_index(drop=True)
    frame["ead"] = ead[keep].to_numpy()
    frame["lgd"] = np.clip(1.0 - net_recovery[keep].to_numpy() / ead[keep].to_numpy(), 0.0, 1.0)
    frame["ead_share"] = np.clip(
        frame["ead"] / raw.loc[keep, "funded_amnt"].astype(float).to_numpy(), 0.0, 1.0
    )
    for col in spec.categorical:
        frame[col] = frame[col].astype(str).where(frame[col].notna()).astype("category")
    return frame, spec


def load_builtin(name: str, datasets_dir: Path | None = None) -> tuple[pd.DataFrame, DatasetSpec]:
    loaders = {
        "german": load_german,
        "taiwan": load_taiwan,
        "gmsc": load_gmsc,
        "lending_club": load_lending_club,
    }
    if name not in loaders:
        raise InputError(f"unknown dataset {name!r}; choose one of {', '.join(BUILTIN)}", field="dataset")
    return loaders[name](datasets_dir)
