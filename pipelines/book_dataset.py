"""Time-true training sets: what was known by a date, and what the books saw since.

Why: a model trained at T0 may only learn from outcomes observed by T0. An application's
12-month outcome is known once its observation window has ended, so the history at T0 is
every application whose ``observation_end_date`` is on or before T0 (labels from the
generator's population: the platform's past). A challenger trained later adds the book's
own matured vintages (lines observed 12 months by the last committed book day), labelled by
the ledger (``margin.outcomes.labels_from_books``), never by the generator.

The output is a ``creditdesk features``-shaped folder (features.parquet + labels.parquet +
instruments.parquet when the input has it), so ``creditdesk train --features DIR`` trains on
it with no second code path. It is written atomically.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from creditdesk.errors import InputError


def _read(path: Path, which: str) -> pd.DataFrame:
    if not path.is_file():
        raise InputError(f"--features: {path} is missing (run creditdesk features)", field="features")
    return pd.read_parquet(path)


def book_label_rows(database_url: str, horizon_days: int = 365) -> pd.DataFrame:
    """The book's matured lines as rows of the features job's labels (ledger outcomes)."""
    from pipelines.book_training import book_labels

    labels = book_labels(database_url, horizon_days)
    m = labels[labels["matured"]].copy()
    ead = m["ead_minor"].to_numpy(dtype=np.float64)
    limit = m["granted_limit_minor"].to_numpy(dtype=np.float64)
    y = m["default"].to_numpy(dtype=bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        lgd = np.where(y & (ead > 0), np.clip(m["loss_minor"].to_numpy(dtype=np.float64) / ead, 0, 1), np.nan)
        ccf = np.where(y & (limit > 0), ead / limit, np.nan)
    return pd.DataFrame(
        {
            "application_id": m["application_id"].to_numpy(dtype=np.int64),
            "customer_id": m["customer_id"].to_numpy(dtype=np.int64),
            "default_12m": y,
            "default_cause": m["default_cause"].astype(str).to_numpy(),
            "ead_minor": m["ead_minor"].to_numpy(dtype=np.int64),
            "loss_minor": m["loss_minor"].to_numpy(dtype=np.int64),
            "lgd": lgd,
            "ccf": ccf,
            "credit_limit_minor": m["granted_limit_minor"].to_numpy(dtype=np.int64),
            "drawn_at_open_minor": np.zeros(len(m), dtype=np.int64),
        }
    )


def write_dataset(
    features_dir: Path,
    out_dir: Path,
    observed_by: dt.date,
    book_db: str | None = None,
    horizon_days: int = 365,
) -> dict[str, Any]:
    """Write the training set known on ``observed_by`` (plus the book's matured lines)."""
    from creditdesk.atomic import atomic_dir, write_parquet_atomic

    feats = _read(features_dir / "features.parquet", "features")
    labels = _read(features_dir / "labels.parquet", "labels")
    if "observation_end_date" not in labels.columns:
        raise InputError(f"{features_dir}/labels.parquet has no observation_end_date", field="features")
    cut = pd.Timestamp(observed_by)
    history = labels[pd.to_datetime(labels["observation_end_date"]) <= cut]
    keep = history.drop(columns=[c for c in ("observation_end_date",) if c in history.columns])
    counts: dict[str, Any] = {"observed_by": str(observed_by), "history_rows": len(keep)}
    counts["history_defaults"] = int(keep["default_12m"].sum())
    if book_db is not None:
        book = book_label_rows(book_db, horizon_days)
        book = book[book["application_id"].isin(feats["application_id"])]
        keep = pd.concat(
            [keep[~keep["application_id"].isin(book["application_id"])], book], ignore_index=True
        )
        counts.update(book_rows=len(book), book_defaults=int(book["default_12m"].sum()))
    if keep.empty or keep["default_12m"].nunique() < 2:
        raise InputError(
            f"the training set observed by {observed_by} has {len(keep)} rows and"
            f" {int(keep['default_12m'].sum()) if len(keep) else 0} defaults: choose a later date",
            field="before",
        )
    rows = feats[feats["application_id"].isin(keep["application_id"])]
    with atomic_dir(out_dir) as tmp:
        write_parquet_atomic(rows.reset_index(drop=True), tmp / "features.parquet")
        write_parquet_atomic(keep.reset_index(drop=True), tmp / "labels.parquet")
        for extra in ("instruments.parquet",):
            if (features_dir / extra).is_file():
                write_parquet_atomic(pd.read_parquet(features_dir / extra), tmp / extra)
    counts["rows"] = len(rows)
    return counts


__all__ = ["book_label_rows", "write_dataset"]
