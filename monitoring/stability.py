"""Population and characteristic stability: PSI per feature and for the score, CSI per bin.

The index itself is ``models.metrics.psi_by_bin`` (reference deciles, open outer bins,
a bin for missing values, one bin per level of a categorical): the same numbers the
validation pack shows at training, so a committee never sees two PSIs for one feature.
This module only prepares columns for it and turns the result into bands and lights.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.metrics import psi_band, psi_by_bin
from monitoring.contract import LogicalType, logical_type

MAX_WORKERS = 4
BAND_LIGHT: dict[str, str] = {"stable": "green", "watch": "amber", "act": "red"}
"""Traffic light of each PSI band (< 0.10 / 0.10–0.25 / ≥ 0.25)."""


@dataclass(frozen=True)
class StabilityResult:
    """``table``: one row per column (feature, kind, psi, band, light, bins, worst_bin);
    ``csi``: the per-bin table of each column (the CSI detail behind each PSI)."""

    table: pd.DataFrame
    csi: dict[str, pd.DataFrame]


def _prepared(values: pd.Series, kind: LogicalType) -> np.ndarray | pd.Series:
    """The column in a form ``psi_by_bin`` bins as intended.

    Numbers go as a float array (no copy when already float64); infinite ones are clipped
    to ±1e300 so they fall in the outer bins instead of raising. Strings (including
    pandas' ``string`` dtype) and nullable booleans become plain objects so they are
    binned by level; datetimes become days since the epoch, binned on reference deciles.
    """
    if kind == "numeric":
        array = values.to_numpy(dtype=float, na_value=np.nan)
        if np.isinf(array).any():
            # An infinite ratio (e.g. assets over a zero line) belongs in the outer bin.
            array = np.clip(array, -1e300, 1e300)  # far past any real value, safe to interpolate
        return array
    if kind == "datetime":
        ns = values.to_numpy(dtype="datetime64[ns]").astype("int64").astype(float)
        ns[values.isna().to_numpy()] = np.nan
        return ns / 86_400e9
    return values.astype(object)


def column_csi(reference: pd.Series, current: pd.Series, bins: int = 10) -> pd.DataFrame:
    """Per-bin stability table of one column (see ``models.metrics.psi_by_bin``)."""
    kind = logical_type(reference.dtype)
    return psi_by_bin(_prepared(reference, kind), _prepared(current, kind), bins=bins)


def stability(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    columns: Sequence[str],
    bins: int = 10,
    on_column: Callable[[str], None] | None = None,
) -> StabilityResult:
    """PSI, band and light for each of ``columns``, sorted as given.

    Columns are binned on a small thread pool: the work is numpy quantiles, binary
    searches and counts, which release the GIL, so a wide frame uses every core.
    ``on_column`` is called, in column order on the calling thread, after each column
    (progress reporting at the edge).
    """
    rows = []
    csi: dict[str, pd.DataFrame] = {}
    workers = max(1, min(MAX_WORKERS, os.cpu_count() or 1, len(columns)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        tables = pool.map(lambda name: column_csi(reference[name], current[name], bins=bins), columns)
        for name, table in zip(columns, tables, strict=True):
            rows.append(_row(name, logical_type(reference[name].dtype), table))
            csi[name] = table
            if on_column is not None:
                on_column(name)
    return StabilityResult(table=pd.DataFrame(rows), csi=csi)


def _row(name: str, kind: LogicalType, table: pd.DataFrame) -> dict[str, object]:
    value = float(table["psi"].sum())
    band = psi_band(value)
    worst = table.loc[table["psi"].idxmax()]
    return {
        "feature": name,
        "kind": kind,
        "psi": value,
        "band": band,
        "light": BAND_LIGHT[band],
        "bins": len(table),
        "worst_bin": str(worst["bin"]),
        "worst_bin_psi": float(worst["psi"]),
    }
