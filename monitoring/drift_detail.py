"""The Evidently 0.7 data-drift report: the full per-column detail the summary links to.

Evidently takes seconds to import, so it is imported inside the function and nothing on
the serving path imports this module. Evidently picks its own test per column (e.g.
Wasserstein or Jensen-Shannon distance) and bins differently from our PSI; its verdicts
are shown beside ours, never instead of them.

Evidently holds both frames in memory several times over, so at most ``max_rows`` rows
of each side go in (a seeded random sample); our PSI always uses every row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from monitoring.contract import LogicalType

MAX_ROWS_DEFAULT = 50_000


def _sample(frame: pd.DataFrame, max_rows: int, seed: int) -> pd.DataFrame:
    if len(frame) <= max_rows:
        return frame
    rows = np.sort(np.random.default_rng(seed).choice(len(frame), size=max_rows, replace=False))
    return frame.iloc[rows]


def _for_evidently(frame: pd.DataFrame, types: Mapping[str, LogicalType]) -> pd.DataFrame:
    """Columns in types Evidently handles: booleans and strings as plain text categories."""
    out = {}
    for name, kind in types.items():
        col = frame[name]
        if kind in ("boolean", "categorical"):
            out[name] = col.astype(object).where(col.notna(), None).astype(str)
        elif kind == "datetime":
            out[name] = (pd.to_datetime(col) - pd.Timestamp("1970-01-01")).dt.days.astype(float)
        else:
            out[name] = col.astype(float)
    return pd.DataFrame(out, index=frame.index)


def write_drift_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    columns: Sequence[str],
    types: Mapping[str, LogicalType],
    path: Path,
    max_rows: int = MAX_ROWS_DEFAULT,
    seed: int = 0,
) -> dict[str, Any]:
    """Run ``Report([DataDriftPreset()])`` with per-column tests, save its HTML at ``path``.

    Returns a JSON-ready digest: rows used, the drifted-column count and share, and per
    column the method, drift score, threshold and whether Evidently's test failed.
    """
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    ref_rows = _sample(reference, max_rows, seed)
    cur_rows = _sample(current, max_rows, seed + 1)
    # Evidently refuses a column with no values in either sample; our PSI still covers it
    # (its missing-value bin), so it is only left out of the detail and listed as skipped.
    skipped = [c for c in columns if ref_rows[c].isna().all() or cur_rows[c].isna().all()]
    chosen = {c: types[c] for c in columns if c not in skipped}
    if not chosen:
        raise ValueError("every column is empty in one of the samples")
    ref = _for_evidently(ref_rows, chosen)
    cur = _for_evidently(cur_rows, chosen)
    definition = DataDefinition(
        numerical_columns=[c for c, k in chosen.items() if k in ("numeric", "datetime")],
        categorical_columns=[c for c, k in chosen.items() if k in ("boolean", "categorical")],
    )
    report = Report([DataDriftPreset(columns=list(chosen))], include_tests=True)
    snapshot = report.run(
        Dataset.from_pandas(cur, data_definition=definition),
        Dataset.from_pandas(ref, data_definition=definition),
    )
    snapshot.save_html(str(path))
    result = digest(snapshot.dict(), reference_rows=len(ref), current_rows=len(cur))
    result["skipped_empty_columns"] = skipped
    return result


def digest(snapshot: Mapping[str, Any], reference_rows: int, current_rows: int) -> dict[str, Any]:
    """Pull the per-column verdicts out of an Evidently 0.7 snapshot dictionary."""
    columns: dict[str, dict[str, Any]] = {}
    drifted_count = float("nan")
    drifted_share = float("nan")
    for metric in snapshot.get("metrics", []):
        config = metric.get("config", {})
        kind = str(config.get("type", ""))
        if kind.endswith("DriftedColumnsCount"):
            value = metric.get("value", {})
            drifted_count = float(value.get("count", float("nan")))
            drifted_share = float(value.get("share", float("nan")))
        elif kind.endswith("ValueDrift"):
            columns[str(config.get("column"))] = {
                "method": str(config.get("method")),
                "score": float(metric.get("value", float("nan"))),
                "threshold": float(config.get("threshold", float("nan"))),
                "drifted": None,
            }
    for test in snapshot.get("tests", []):
        params = test.get("metric_config", {}).get("params", {})
        if str(params.get("type", "")).endswith("ValueDrift"):
            name = str(params.get("column"))
            if name in columns:
                columns[name]["drifted"] = test.get("status") == "FAIL"
    return {
        "reference_rows": int(reference_rows),
        "current_rows": int(current_rows),
        "drifted_columns": drifted_count,
        "drifted_share": drifted_share,
        "columns": columns,
    }
