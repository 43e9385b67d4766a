"""Batch scoring job: applications -> PD, grade, LGD, CCF and reasons, written atomically.

What ``creditdesk score`` and the demo's scoring stage run: one implementation, so the
demo and the CLI cannot disagree.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from creditdesk.atomic import write_parquet_atomic
from creditdesk.errors import InputError
from creditdesk.parquet import check_parquet

RAW_TABLES = ("customers", "bureau", "trades", "cash_flows", "applications", "instruments")


def read_applications(input: Path) -> pd.DataFrame:
    """A feature table (.parquet/.csv with catalogue columns) or a raw population folder."""
    if input.is_dir():
        from features.builders import build_features

        tables = {
            t: pd.read_parquet(input / f"{t}.parquet")
            for t in RAW_TABLES
            if (input / f"{t}.parquet").is_file()
        }
        if "applications" not in tables:
            raise InputError(f"{input} is not a raw population (no applications.parquet)", field="input")
        frame = build_features(tables)
    elif input.is_file() and input.suffix in (".parquet", ".csv"):
        if input.suffix == ".parquet":
            check_parquet(input, "input")
        frame = pd.read_parquet(input) if input.suffix == ".parquet" else pd.read_csv(input)
    elif input.is_file():
        raise InputError(f"--input must be .parquet, .csv or a folder, got {input.name}", field="input")
    else:
        raise InputError(f"--input not found: {input}", field="input")
    if frame.empty:
        raise InputError(f"{input} has no rows", field="input")
    return frame


def score_file(
    input: Path,
    output: Path,
    *,
    alias: str = "champion",
    tracking_uri: str | None = None,
    step: Callable[[str], None] = lambda text: None,
) -> dict[str, Any]:
    """Score every application of ``input`` with the ``alias`` model set; write ``output``."""
    from models.registry import load_champions

    if output.suffix != ".parquet":
        raise InputError(f"--output must end in .parquet, got {output.name}", field="output")
    frame = read_applications(input)
    step(f"loading @{alias}")
    try:
        champions = load_champions(tracking_uri, alias=alias)
    except LookupError as exc:
        raise InputError(str(exc), field="alias") from None
    step(f"scoring {len(frame):,} rows")
    scored = champions.score(champions.pd.encoder.transform(frame))
    out = pd.DataFrame(
        {
            "pd_12m": scored.pd_12m,
            "grade": scored.grade,
            "lgd": scored.lgd,
            "ccf": scored.ccf,
            "reasons": [json.dumps(r) for r in scored.reasons],
        }
    )
    for key in ("customer_id", "application_id"):  # inserted at 0: application_id ends up first
        if key in frame.columns:
            out.insert(0, key, frame[key].to_numpy())
    for name, version in champions.versions.items():
        out[f"model_{name}"] = version
    write_parquet_atomic(out, output)
    return {
        "rows": len(out),
        "output": str(output),
        "mean_pd": float(out["pd_12m"].mean()),
        "versions": champions.versions,
    }
