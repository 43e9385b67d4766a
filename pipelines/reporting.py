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
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from creditdesk.atomic import atomic_dir
from creditdesk.errors import InputError
from pricing.portfolio import MONEY_COLUMNS

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


SCORE_COLUMNS_FROM_SCORING = ("pd_12m", "grade", "lgd")
DECISION_COLUMNS = ("outcome",)
PRICING_COLUMNS = (*MONEY_COLUMNS, "annual_rate", "raroc")
"""What ``creditdesk score`` output contributes to a monitoring set (joined on application_id)."""
LABEL_COLUMNS_FROM_FEATURES = {"default_12m": "default_12m", "lgd": "realised_lgd"}
"""labels.parquet of ``creditdesk features``: its ``lgd`` is the realised LGD of a default."""


def load_set(path: Path, which: str, scores: Path | None = None) -> pd.DataFrame:
    """A monitoring set from pipeline outputs.

    ``path`` is a parquet file already in the contract's shape, or the folder written by
    ``creditdesk features`` (features.parquet, and labels.parquet when outcomes are known:
    ``default_12m`` and the realised LGD join as ``default_12m`` / ``realised_lgd``).
    ``scores`` is the parquet of ``creditdesk score`` for the same applications; its
    ``pd_12m``, ``grade`` and (predicted) ``lgd`` join on ``application_id``.
    """
    if path.is_dir():
        frame = read_frame(path / "features.parquet", which)
        labels_path = path / "labels.parquet"
        if labels_path.is_file():
            labels = read_frame(labels_path, f"{which} labels")
            frame = _join(frame, labels, LABEL_COLUMNS_FROM_FEATURES, f"{which} labels")
    else:
        frame = read_frame(path, which)
    if scores is not None:
        scored = read_frame(scores, f"{which} scores")
        # A decisions file (``pipelines.decide_batch``) also carries the decision and its
        # pricing, which the portfolio section reports; a plain score file does not.
        extra = [c for c in (*DECISION_COLUMNS, *PRICING_COLUMNS) if c in scored.columns and c not in frame]
        wanted = {c: c for c in (*SCORE_COLUMNS_FROM_SCORING, *extra)}
        frame = _join(frame, scored, wanted, f"{which} scores", True)
    return frame


def _join(
    frame: pd.DataFrame, other: pd.DataFrame, columns: dict[str, str], which: str, every_row: bool = False
) -> pd.DataFrame:
    """Left-join ``columns`` of ``other`` (renamed src → dst) on application_id.

    ``every_row``: each application must find its row (a score); labels may be missing
    for applications whose outcome is not known yet.
    """
    key = "application_id"
    if key not in frame.columns or key not in other.columns:
        raise InputError(f"{which}: both files need an application_id column to be joined", field=which)
    if other[key].duplicated().any():
        raise InputError(f"{which}: application_id values repeat", field=which)
    present = {src: dst for src, dst in columns.items() if src in other.columns}
    if not present:
        raise InputError(f"{which}: none of the columns {sorted(columns)} is present", field=which)
    clashes = [dst for dst in present.values() if dst in frame.columns]
    if clashes:
        raise InputError(f"{which}: columns {clashes} are already in the set", field=which)
    right = other[[key, *present]].rename(columns=present)
    joined = frame.merge(right, on=key, how="left", validate="many_to_one")
    matched = frame[key].isin(other[key])
    unmatched = int((~matched).sum()) if every_row else 0
    if unmatched:
        raise InputError(f"{which}: {unmatched} applications have no score", field=which)
    return joined


def check_out_dir(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"--out must be a directory, but {out_dir} is a file", field="out")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / SUMMARY_FILE).exists():
        raise InputError(
            f"--out {out_dir} exists and is not a previous report (no {SUMMARY_FILE}); "
            "choose an empty or new directory",
            field="out",
        )


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
    risk_controls: dict[str, Any] | None = None,
    book: dict[str, Any] | None = None,
) -> ReportOutcome:
    """Check, compute, render and write the report; returns where it is and its summary."""
    from monitoring.contract import check_pair
    from monitoring.portfolio import portfolio_section
    from monitoring.report import build_report

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
        risk_controls=risk_controls,
        on_column=lambda name: advance(f"PSI {name}"),
    )
    report.inputs = dict(inputs or {})
    report.book = book
    advance("performance and portfolio")
    data = _write_report_dir(report, pair, out_dir, evidently, evidently_max_rows, advance)
    return ReportOutcome(out_dir=out_dir, summary=data)


def _write_report_dir(
    report: Any, pair: Any, out_dir: Path, evidently: bool, evidently_max_rows: int, advance: Step
) -> dict[str, Any]:
    """Evidently's page (optional detail: its failure never fails the report), the committee
    page and ``summary.json``, all into one directory that appears whole or not at all."""
    from monitoring.page import render_index
    from monitoring.report import summary

    with atomic_dir(out_dir) as tmp:
        href = None
        if evidently:
            from monitoring.drift_detail import write_drift_report

            try:
                report.drift_detail = write_drift_report(
                    pair.reference,
                    pair.current,
                    pair.features,
                    pair.feature_types,
                    tmp / DRIFT_FILE,
                    max_rows=evidently_max_rows,
                )
                href = DRIFT_FILE
            except Exception as exc:  # Evidently is the optional detail: the committee page must not fail
                (tmp / DRIFT_FILE).unlink(missing_ok=True)
                report.drift_detail = {"error": f"{type(exc).__name__}: {exc}"[:500]}
        advance("Evidently drift report", 1)
        page = render_index(
            report,
            pair.reference[pair.score_column].to_numpy(dtype=float),
            pair.current[pair.score_column].to_numpy(dtype=float),
            evidently_href=href,
            labels=feature_labels(),
        )
        (tmp / INDEX_FILE).write_text(page, encoding="utf-8")
        data: dict[str, Any] = summary(report)
        data["files"] = {"index": INDEX_FILE, "evidently": href, "summary": SUMMARY_FILE}
        (tmp / SUMMARY_FILE).write_text(json.dumps(data, indent=2, allow_nan=False) + "\n", encoding="utf-8")
        advance("page and summary", 1)
    return data


def total_steps(n_features: int) -> int:
    """Units of progress ``run_report`` reports: one per feature plus four stages."""
    return n_features + 4


def write_report(
    reference: str | Path,
    out_dir: Path,
    *,
    current: Path | None = None,
    since: str | None = None,
    reference_scores: Path | None = None,
    current_scores: Path | None = None,
    features: Sequence[str] | None = None,
    bins: int = 10,
    evidently: bool = True,
    evidently_max_rows: int = 50_000,
    with_ledger: bool = True,
    step: Step | None = None,
    start: Callable[[int], None] | None = None,
    book: BookInputs | None = None,
) -> ReportOutcome:
    """The whole job from paths: what ``creditdesk report`` (and the demo) run.

    ``reference``: a parquet file, a ``creditdesk features`` folder (with
    ``reference_scores``), ``runs:/RUN_ID`` or ``models:/NAME@ALIAS``. The current set is
    ``current`` (same forms, except the registry ones) or the decision log ``since`` a
    date; exactly one of the two. ``start(total)`` is told the number of progress units
    once the inputs are read. With ``book`` the ledger sections read the book run's database
    as of its last committed day, and the living book's sections are added.
    """
    from monitoring.contract import feature_columns

    if (current is None) == (since is None):
        raise InputError("give exactly one of --current FILE or --since DATE", field="current")
    if since is not None and current_scores is not None:
        raise InputError("--current-scores goes with --current, not --since", field="current-scores")
    if evidently_max_rows < 100:
        raise InputError("--evidently-rows must be at least 100", field="evidently-rows")
    check_out_dir(out_dir)
    with tempfile.TemporaryDirectory(prefix="creditdesk-reference-") as download:
        ref_path = resolve_reference(str(reference), Path(download))
        ref_frame = load_set(ref_path, "reference", reference_scores)
    inputs = {"reference": str(reference)}
    if current is not None:
        cur_frame = load_set(current, "current", current_scores)
        inputs["current"] = str(current)
    else:
        assert since is not None
        cur_frame = current_from_decision_log(since, ref_frame.columns)
        inputs["current"] = f"decision log since {since}"
    ledger, risk_controls, book_data = _ledger_sections(with_ledger, book)
    if book is not None:
        inputs["book"] = book.database_url
    if start is not None:
        start(total_steps(len(features) if features else len(feature_columns(ref_frame))))
    return run_report(
        ref_frame,
        cur_frame,
        out_dir,
        features=features,
        bins=bins,
        evidently=evidently,
        evidently_max_rows=evidently_max_rows,
        ledger=ledger,
        inputs=inputs,
        step=step,
        risk_controls=risk_controls,
        book=book_data,
    )


@dataclass(frozen=True)
class BookInputs:
    """A book run for the report: its database, its population and a model comparison."""

    database_url: str
    population: Path
    comparison: Path | None = None


def _ledger_sections(
    with_ledger: bool, book: BookInputs | None
) -> tuple[dict[str, Any] | None, dict[str, Any] | None, dict[str, Any] | None]:
    """Book and margin, risk controls and the living book: from the service database, or
    from a book run's database as of its last day (business time, not the wall clock)."""
    if book is None:
        if not with_ledger:
            return None, None, None
        return ledger_figures(), risk_controls_figures(), None
    from pipelines.book_report import book_figures

    data = book_figures(book.database_url, book.population, book.comparison)
    now_ns = int(pd.Timestamp(data["as_of"]).value) + 86_400 * 10**9
    return (
        ledger_figures(book.database_url, now_ns),
        risk_controls_figures(book.database_url, now_ns),
        data,
    )


def parse_since(since: str) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(since)
    except (ValueError, TypeError) as exc:
        raise InputError(f"--since must be a date YYYY-MM-DD, got {since!r}", field="since") from exc
    if pd.isna(stamp):
        raise InputError(f"--since must be a date YYYY-MM-DD, got {since!r}", field="since")
    return stamp


MAX_JOURNAL_ROWS = 5_000_000
"""A bound on one report's read of the journal; a longer period is a batch job, not a report."""


def _engine_for_reading(database_url: str, what: str) -> Any:
    """A plain engine on an existing database (never creates a SQLite file as a side effect)."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    database = url.database or ""
    if url.get_backend_name() == "sqlite" and (database in ("", ":memory:") or not Path(database).exists()):
        return None
    try:
        return create_engine(url)
    except Exception as exc:
        raise InputError(f"{what}: cannot open the database {url!r} ({exc})", field="db_url") from exc


def current_from_decision_log(
    since: str, columns: Sequence[Any], database_url: str | None = None
) -> pd.DataFrame:
    """The current set: decisions journalled on or after ``since`` (UTC), as the service saw them.

    Kept to the reference's columns (outcomes are not in the journal; the contract
    allows their absence). Refuses an unknown date, a missing journal and an empty period.
    """
    from sqlalchemy import inspect, select

    from creditdesk.settings import get_settings
    from features.catalogue import CATALOGUE_VERSION, feature_names
    from ledger.storage import journal
    from monitoring.decision_log import frame_from_payloads

    stamp = parse_since(since)
    url = database_url or get_settings().database_url
    engine = _engine_for_reading(url, "--since")
    if engine is None:
        raise InputError(f"--since: no decision log at {url} (the database does not exist)", field="since")
    since_ns = int(stamp.tz_localize("UTC").value if stamp.tzinfo is None else stamp.tz_convert("UTC").value)
    try:
        if not inspect(engine).has_table(journal.name):
            raise InputError(f"--since: the database {url} has no decision journal", field="since")
        query = (
            select(journal.c.decision_id, journal.c.payload)
            .where(journal.c.created_at_ns >= since_ns)
            .order_by(journal.c.seq)
            .limit(MAX_JOURNAL_ROWS + 1)
        )
        with engine.connect() as conn:
            rows = conn.execute(query).all()
    finally:
        engine.dispose()
    if len(rows) > MAX_JOURNAL_ROWS:
        raise InputError(
            f"--since {since}: more than {MAX_JOURNAL_ROWS:,} decisions; choose a later date", field="since"
        )
    if not rows:
        raise InputError(f"--since {since}: no decisions logged on or after that date", field="since")
    payloads = ({"decision_id": r.decision_id, **json.loads(r.payload)} for r in rows)
    frame = frame_from_payloads(payloads, feature_names(), CATALOGUE_VERSION)
    wanted = [str(c) for c in columns]
    return frame[[c for c in wanted if c in frame.columns]]


def ledger_figures(database_url: str | None = None, now_ns: int | None = None) -> dict[str, Any] | None:
    """Read-only margin-desk figures from the ledger database, or None when it holds no data."""
    import time

    from sqlalchemy import inspect, select

    from creditdesk.settings import get_settings
    from margin.storage import facilities, margin_calls
    from monitoring.portfolio import book_section

    url = database_url or get_settings().database_url
    engine = _engine_for_reading(url, "ledger")
    if engine is None:
        return None
    try:
        present = set(inspect(engine).get_table_names())
        if not {facilities.name, margin_calls.name} <= present:
            return None
        with engine.connect() as conn:
            lines = pd.DataFrame(
                conn.execute(select(facilities.c.status, facilities.c.line_minor)).all(),
                columns=["status", "line_minor"],
            )
            calls = pd.DataFrame(
                conn.execute(
                    select(margin_calls.c.status, margin_calls.c.required_minor, margin_calls.c.deadline_ns)
                ).all(),
                columns=["status", "required_minor", "deadline_ns"],
            )
    finally:
        engine.dispose()
    return book_section(lines, calls, now_ns if now_ns is not None else time.time_ns())


def risk_controls_figures(
    database_url: str | None = None, now_ns: int | None = None, period_days: int = 90
) -> dict[str, Any] | None:
    """Read-only "Risk controls" section from the books over the last ``period_days``, or None."""
    import time

    from sqlalchemy import inspect

    from creditdesk.settings import get_settings
    from margin.risk_store import order_refusals, read_table, review_queue, risk_events
    from monitoring.risk_controls import risk_controls_section

    url = database_url or get_settings().database_url
    engine = _engine_for_reading(url, "ledger")
    if engine is None:
        return None
    try:
        if risk_events.name not in set(inspect(engine).get_table_names()):
            return None
        events, reviews, refusals = (
            read_table(engine, t) for t in (risk_events, review_queue, order_refusals)
        )
        concentration = book_concentration_frame(engine)
    finally:
        engine.dispose()
    end = now_ns if now_ns is not None else time.time_ns()
    start = end - period_days * 86_400 * 10**9
    return risk_controls_section(
        events, reviews, refusals, start_ns=start, end_ns=end, concentration=concentration
    )


def book_concentration_frame(engine: Any) -> pd.DataFrame | None:
    """Concentration by name for the open book (financed exposure vs ADV capacity), None if empty."""
    import numpy as np
    from sqlalchemy import select

    from margin.book import load_book
    from margin.concentration import book_concentration
    from margin.controls_policy import load_controls_policy
    from margin.repository import MarginUnitOfWork
    from margin.storage import instruments

    with MarginUnitOfWork(engine) as uow:
        state = load_book(uow)
        rows = {r.instrument_id: r for r in uow.connection.execute(select(instruments))}
    if len(state.customer_ids) == 0:
        return None
    symbols = np.array([rows[int(i)].symbol for i in state.instrument_ids], dtype=object)
    money_adv = np.array([float(rows[int(i)].adv_shares) for i in state.instrument_ids]) * state.prices
    book = state.sub_book(np.arange(len(state.customer_ids)))
    floats = np.full(len(symbols), np.nan)  # free float is not in the instrument master yet
    policy = load_controls_policy().concentration
    return book_concentration(book, state.prices, symbols, money_adv, floats, policy)


def save_reference(frame: pd.DataFrame, path: Path) -> Path:
    """Write a reference parquet atomically (temp file in the same directory, then rename)."""
    from creditdesk.atomic import write_parquet_atomic

    return write_parquet_atomic(frame, path)


def resolve_reference(spec: str, download_dir: Path, tracking_uri: str | None = None) -> Path:
    """A local parquet path for ``--reference``: a file, ``runs:/RUN_ID[/path]`` or ``models:/NAME@ALIAS``.

    Registry forms fetch the reference the training run logged (``REFERENCE_ARTIFACT``),
    so the report compares against exactly what the champion was trained on.
    """
    if not spec.startswith(("runs:/", "models:/")):
        return Path(spec)
    import mlflow.artifacts
    from mlflow.tracking import MlflowClient

    from creditdesk.settings import get_settings
    from monitoring.reference import REFERENCE_ARTIFACT

    uri = tracking_uri or get_settings().tracking_uri
    if spec.startswith("models:/"):
        name, sep, alias = spec.removeprefix("models:/").partition("@")
        if not sep or not name or not alias:
            raise InputError(
                f"--reference {spec}: use models:/NAME@ALIAS (e.g. @champion)", field="reference"
            )
        try:
            run_id = MlflowClient(tracking_uri=uri).get_model_version_by_alias(name, alias).run_id
        except Exception as exc:
            raise InputError(
                f"--reference {spec}: no such model version in {uri} ({exc})", field="reference"
            ) from exc
        artifact = REFERENCE_ARTIFACT
    else:
        run_id, _, artifact = spec.removeprefix("runs:/").partition("/")
        artifact = artifact or REFERENCE_ARTIFACT
    try:
        local = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path=artifact, dst_path=str(download_dir), tracking_uri=uri
        )
    except Exception as exc:
        raise InputError(
            f"--reference {spec}: run {run_id} has no artifact {artifact} (the training run must log "
            "its reference, see monitoring.reference)",
            field="reference",
        ) from exc
    return Path(local)
