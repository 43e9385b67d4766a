"""Population and characteristic stability: PSI per feature and for the score, CSI per bin.

The index itself is ``models.metrics.psi_by_bin`` (reference deciles, open outer bins,
a bin for missing values, one bin per level of a categorical): the same numbers the
validation pack shows at training, so a committee never sees two PSIs for one feature.
This module only prepares columns for it and turns the result into bands and lights.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.metrics import psi_band, psi_by_bin
from monitoring.contract import LogicalType, logical_type

BAND_LIGHT: dict[str, str] = {"stable": "green", "watch": "amber", "act": "red"}
"""Traffic light of each PSI band (< 0.10 / 0.10–0.25 / ≥ 0.25)."""


@dataclass(frozen=True)
class StabilityResult:
    """``table``: one row per column (feature, kind, psi, band, light, bins, worst_bin);
    ``csi``: the per-bin table of each column (the CSI detail behind each PSI)."""

    table: pd.DataFrame
    csi: dict[str, pd.DataFrame]


def _prepared(values: pd.Series, kind: LogicalType) -> pd.Series:
    """The column in a form ``psi_by_bin`` bins as intended.

    Infinite numbers are clipped to ±1e300 so they fall in the outer bins.
    Strings (including pandas' ``string`` dtype) and nullable booleans become plain
    objects so they are binned by level; datetimes become days since the epoch so they
    are binned on reference deciles like any number.
    """
    if kind == "numeric":
        # An infinite ratio (e.g. assets over a zero line) belongs in the outer bin, not in an error.
        finite = 1e300  # far past any real value, yet safe to interpolate between
        return values.astype(float).clip(lower=-finite, upper=finite)
    if kind == "datetime":
        ns = values.to_numpy(dtype="datetime64[ns]").astype("int64").astype(float)
        ns[values.isna().to_numpy()] = np.nan
        return pd.Series(ns / 86_400e9, index=values.index)
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

    ``on_column`` is called after each column (progress reporting at the edge).
    """
    rows = []
    csi: dict[str, pd.DataFrame] = {}
    for name in columns:
        kind = logical_type(reference[name].dtype)
        table = column_csi(reference[name], current[name], bins=bins)
        value = float(table["psi"].sum())
        band = psi_band(value)
        worst = table.loc[table["psi"].idxmax()]
        rows.append(
            {
                "feature": name,
                "kind": kind,
                "psi": value,
                "band": band,
                "light": BAND_LIGHT[band],
                "bins": len(table),
                "worst_bin": str(worst["bin"]),
                "worst_bin_psi": float(worst["psi"]),
            }
        )
        csi[name] = table
        if on_column is not None:
            on_column(name)
    return StabilityResult(table=pd.DataFrame(rows), csi=csi)
