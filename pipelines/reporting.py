"""The report job: read the reference and current sets, build the report, write it atomically.

Output directory layout::

    DIR/index.html    the committee page (traffic lights first, then each section)
    DIR/drift.html    Evidently's data-drift report, linked from the page
    DIR/summary.json  PSI per feature and for the score, drift flags, alerts, lights

Nothing is ever half-written: every file goes into a sibling temporary directory that
replaces ``DIR`` only once complete. An existing ``DIR`` is replaced only if it holds a
previous report (it has ``summary.json``) or is empty, so a typo cannot wipe a folder.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from creditdesk.errors import InputError

INDEX_FILE = "index.html"
DRIFT_FILE = "drift.html"
SUMMARY_FILE = "summary.json"

Step = Callable[[str, int], None]
"""Progress callback: (description, units of work just finished)."""


@dataclass(frozen=True)
class ReportOutcome:
    out_dir: Path
    summary: dict[str, Any]

    @property
    def index(self) -> Path:
        return self.out_dir / INDEX_FILE

    @property
    def has_red(self) -> bool:
        return bool(self.summary["counts"]["red"])


def read_frame(path: Path, which: str) -> pd.DataFrame:
    """A parquet file as a frame; bad paths and unreadable files are input errors."""
    if not path.exists():
        raise InputError(f"{which} file not found: {path}", field=which)
    if not path.is_file():
        raise InputError(f"{which} must be a parquet file, not a directory: {path}", field=which)
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for a file that is not parquet
        raise InputError(f"{which} is not a readable parquet file: {path} ({exc})", field=which) from exc


def check_out_dir(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"--out must be a directory, but {out_dir} is a file", field="out")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / SUMMARY_FILE).exists():
        raise InputError(
            f"--out {out_dir} exists and is not a previous report (no {SUMMARY_FILE}); "
            "choose an empty or new directory",
            field="out",
        )


def _replace_dir(tmp: Path, out_dir: Path) -> None:
    """Swap the finished temp dir in; the old report is removed only after the swap."""
    old = None
    if out_dir.exists():
        old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
        out_dir.rename(old)
    try:
        tmp.rename(out_dir)
    except OSError:
        if old is not None:
            old.rename(out_dir)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def feature_labels() -> dict[str, str]:
    """Plain-language descriptions from the feature catalogue, when it is available."""
    try:
        from features.catalogue import CATALOGUE
    except ImportError:
        return {}
    return {f.name: f.description for f in CATALOGUE}


def run_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    out_dir: Path,
    *,
    features: Sequence[str] | None = None,
    bins: int = 10,
    evidently: bool = True,
    evidently_max_rows: int = 50_000,
    ledger: dict[str, Any] | None = None,
    inputs: dict[str, str] | None = None,
    step: Step | None = None,
) -> ReportOutcome:
    """Check, compute, render and write the report; returns where it is and its summary."""
    from monitoring.contract import check_pair
    from monitoring.page import render_index
    from monitoring.portfolio import portfolio_section
    from monitoring.report import build_report, summary

    def advance(text: str, units: int = 1) -> None:
        if step is not None:
            step(text, units)

    if bins < 2 or bins > 100:
        raise InputError("--bins must be between 2 and 100", field="bins")
    check_out_dir(out_dir)
    pair = check_pair(reference, current, features)
    advance("checked inputs")
    report = build_report(
        pair,
        bins=bins,
        portfolio=portfolio_section(current),
        ledger=ledger,
        on_column=lambda name: advance(f"PSI {name}"),
    )
    report.inputs = dict(inputs or {})
    advance("performance and portfolio")

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        tmp.chmod(0o755)  # mkdtemp makes it private; the report is meant to be read by others
        href = None
        if evidently:
            from monitoring.drift_detail import write_drift_report

            report.drift_detail = write_drift_report(
                pair.reference,
                pair.current,
                pair.features,
                pair.feature_types,
                tmp / DRIFT_FILE,
                max_rows=evidently_max_rows,
            )
            href = DRIFT_FILE
        advance("Evidently drift report")
        page = render_index(
            report,
            pair.reference[pair.score_column].to_numpy(dtype=float),
            pair.current[pair.score_column].to_numpy(dtype=float),
            evidently_href=href,
            labels=feature_labels(),
        )
        (tmp / INDEX_FILE).write_text(page, encoding="utf-8")
        data = summary(report)
        data["files"] = {"index": INDEX_FILE, "evidently": href, "summary": SUMMARY_FILE}
        (tmp / SUMMARY_FILE).write_text(json.dumps(data, indent=2, allow_nan=False) + "\n", encoding="utf-8")
        advance("page and summary")
        _replace_dir(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return ReportOutcome(out_dir=out_dir, summary=data)


def total_steps(n_features: int) -> int:
    """Units of progress ``run_report`` reports: one per feature plus four stages."""
    return n_features + 4


def parse_since(since: str) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(since)
    except (ValueError, TypeError) as exc:
        raise InputError(f"--since must be a date YYYY-MM-DD, got {since!r}", field="since") from exc
    if pd.isna(stamp):
        raise InputError(f"--since must be a date YYYY-MM-DD, got {since!r}", field="since")
    return stamp


def current_from_decision_log(since: str, columns: Sequence[Any]) -> pd.DataFrame:
    """The current set rebuilt from decisions logged on or after ``since``."""
    parse_since(since)
    try:
        import ledger.journal  # noqa: F401
    except ImportError as exc:
        raise InputError(
            "--since reads the decision journal (ledger/journal.py), which this build does not have; "
            "use --current FILE",
            field="since",
        ) from exc
    raise InputError("--since is not supported by this build yet; use --current FILE", field="since")


def ledger_figures() -> dict[str, Any] | None:
    """Read-only book figures from the ledger database, or None when it holds no data."""
    return None
