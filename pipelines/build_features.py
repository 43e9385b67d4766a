"""The feature job: raw parquet directory -> validate -> build -> validate -> feature table.

Outputs in ``out_dir``:
- ``features.parquet``: keys + catalogue features (catalogue version in the parquet metadata);
- ``labels.parquet``: from ``outcomes`` when present, kept apart so no label can become a
  feature by accident;
- ``validation.json``: the contract summaries, written whatever happens.

A contract failure raises ``InputError`` (exit 2) naming each failed expectation, after
``validation.json`` is written; no feature or label table is left behind, including stale
ones from an earlier run, so nothing downstream reads features of a refused batch. Every
file is written to a temp name and renamed into place.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from creditdesk.atomic import write_atomic
from creditdesk.errors import InputError
from features.schemas import LABEL_TABLES, RAW_TABLES, TABLES

REQUIRED_TABLES = ("customers", "bureau", "trades", "cash_flows", "applications", "instruments")
OUTPUTS = ("features.parquet", "labels.parquet")
STEPS = ("read", "validate raw", "build", "validate features", "write")


def read_raw(raw_dir: Path) -> dict[str, pd.DataFrame]:
    raw_dir = Path(raw_dir)
    if not raw_dir.is_dir():
        raise InputError(f"--raw {raw_dir}: not a directory", field="raw")
    tables: dict[str, pd.DataFrame] = {}
    for name in (*RAW_TABLES, *LABEL_TABLES):
        path = raw_dir / f"{name}.parquet"
        if not path.exists():
            if name in REQUIRED_TABLES:
                raise InputError(f"--raw {raw_dir}: {name}.parquet missing", field="raw")
            continue
        try:
            # Strings as categoricals (parquet dictionaries): the builders then skip hashing them.
            strings = [c for c, dtype in TABLES[name].items() if dtype == "string"]
            tables[name] = pd.read_parquet(path, read_dictionary=strings)
        except Exception as exc:  # pyarrow raises several types for a file that is not parquet
            raise InputError(
                f"{path}: not a readable parquet file ({type(exc).__name__})", field="raw"
            ) from None
    return tables


def build_labels(outcomes: pd.DataFrame, applications: pd.DataFrame) -> pd.DataFrame:
    """Labels per application: default flag, EAD, LGD = loss / EAD and CCF on defaults.

    The CCF is measured from the application date, when nothing is drawn: CCF = EAD / limit
    (``models.ead.onboarding_ccf``), because the decision prices a new line as EAD = CCF ×
    limit (DESIGN.md). ``drawn_at_open_minor`` (the draw just after opening) stays in the
    table for analysis; measuring the CCF from it and applying it to the whole limit
    understated EAD by ~30 % (issue 13). LGD and CCF are NaN where undefined (no default,
    EAD = 0, no line).
    """
    from models.ead import onboarding_ccf

    frame = outcomes.merge(
        applications[["application_id", "application_date"]], on="application_id", how="left", validate="1:1"
    )
    default = frame["default_12m"].to_numpy(dtype=bool)
    ead = frame["exposure_at_default_minor"].to_numpy(dtype="int64")
    loss = frame["loss_minor"].to_numpy(dtype="int64")
    limit = frame["credit_limit_minor"].to_numpy(dtype="int64")
    drawn = frame["drawn_at_open_minor"].to_numpy(dtype="int64")
    lgd = pd.Series(loss / ead.clip(min=1)).where(default & (ead > 0))
    ccf = pd.Series(onboarding_ccf(ead, limit)).where(default & (limit > 0))
    return pd.DataFrame(
        {
            "application_id": frame["application_id"].astype("int64"),
            "customer_id": frame["customer_id"].astype("int64"),
            "application_date": frame["application_date"],
            "observation_end_date": frame["observation_end_date"],
            "default_12m": default,
            "default_cause": frame["default_cause"].astype(str),
            "ead_minor": ead,
            "loss_minor": loss,
            "lgd": lgd.to_numpy(dtype="float64"),
            "ccf": ccf.to_numpy(dtype="float64"),
            "credit_limit_minor": limit,
            "drawn_at_open_minor": drawn,
            "margin_calls_12m": frame["margin_calls_12m"].astype("int64"),
            "liquidated": frame["liquidated"].astype(bool),
        }
    )


def _write_parquet(path: Path, frame: pd.DataFrame, metadata: dict[str, str]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False)
    merged = {**(table.schema.metadata or {}), **{k.encode(): v.encode() for k, v in metadata.items()}}
    write_atomic(path, lambda tmp: pq.write_table(table.replace_schema_metadata(merged), tmp))


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    write_atomic(path, lambda tmp: tmp.write_text(json.dumps(payload, indent=2) + "\n"))


def _refuse(out_dir: Path, report: dict[str, Any], stage: str, summary: dict[str, Any]) -> None:
    from features.contracts import failure_lines

    for name in OUTPUTS:  # a stale table from an earlier run must not pass for this batch's
        (out_dir / name).unlink(missing_ok=True)
    report.update(status="failed", failed_stage=stage)
    _write_json(out_dir / "validation.json", report)
    lines = failure_lines(summary, limit=8)
    raise InputError(
        f"{stage} data contract failed ({summary['failed']} of {summary['evaluated']} expectations): "
        + "; ".join(lines)
        + f"; details in {out_dir / 'validation.json'}; no feature table written"
    )


def run(raw_dir: Path, out_dir: Path, on_step: Callable[[str], None] | None = None) -> dict[str, Any]:
    """The whole job; returns the report that is also written to ``validation.json``."""
    from features.builders import build_features
    from features.catalogue import CATALOGUE_VERSION
    from features.contracts import validate_features, validate_raw

    step = on_step or (lambda name: None)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"--out {out_dir}: exists and is not a directory", field="out")
    step("read")
    tables = read_raw(raw_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"--out {out_dir}: cannot create ({exc.strerror})", field="out") from None
    report: dict[str, Any] = {
        "raw_dir": str(raw_dir),
        "catalogue_version": CATALOGUE_VERSION,
        "rows": {name: len(frame) for name, frame in tables.items()},
    }
    step("validate raw")
    report["raw"] = raw = validate_raw(tables)
    if not raw["success"]:
        _refuse(out_dir, report, "raw", raw)
    step("build")
    features = build_features(tables)
    step("validate features")
    report["features"] = checked = validate_features(features)
    if not checked["success"]:
        _refuse(out_dir, report, "features", checked)
    step("write")
    metadata = {"creditdesk.catalogue_version": CATALOGUE_VERSION}
    _write_parquet(out_dir / "features.parquet", features, metadata)
    outputs = {"features": str(out_dir / "features.parquet")}
    if "outcomes" in tables:
        labels = build_labels(tables["outcomes"], tables["applications"])
        _write_parquet(out_dir / "labels.parquet", labels, metadata)
        outputs["labels"] = str(out_dir / "labels.parquet")
        report["default_rate"] = round(float(labels["default_12m"].mean()), 6) if len(labels) else None
    else:
        (out_dir / "labels.parquet").unlink(missing_ok=True)
    outputs["validation"] = str(out_dir / "validation.json")
    report.update(status="passed", outputs=outputs, feature_rows=len(features))
    _write_json(out_dir / "validation.json", report)
    return report
