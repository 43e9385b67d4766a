"""CLI of the `monitoring` room: ``creditdesk report`` (joined by ``pipelines.cli``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from creditdesk.errors import InputError

if TYPE_CHECKING:
    from pipelines.reporting import ReportOutcome

app = typer.Typer()

Reference = Annotated[
    str,
    typer.Option(
        "--reference",
        help="Parquet of the reference set (feature columns plus pd_12m or score, grade, optionally "
        "default_12m, application_date, lgd, realised_lgd, pricing columns), or the reference a "
        "training run logged: runs:/RUN_ID or models:/creditdesk-pd@champion.",
    ),
]
Current = Annotated[
    Path | None,
    typer.Option(
        "--current",
        help="Parquet of the current set (same columns and types as the reference), or a "
        "`creditdesk features` output folder (with --current-scores).",
    ),
]
ReferenceScores = Annotated[
    Path | None,
    typer.Option(
        "--reference-scores", help="`creditdesk score` output to join to a features folder reference."
    ),
]
CurrentScores = Annotated[
    Path | None,
    typer.Option(
        "--current-scores", help="`creditdesk score` output to join to a features folder current set."
    ),
]
Since = Annotated[
    str | None,
    typer.Option(
        "--since",
        help="Read the current set from the decision log: decisions on or after this date (YYYY-MM-DD).",
    ),
]
Out = Annotated[Path, typer.Option("--out", help="Directory to write index.html, drift.html, summary.json.")]
FailOnDrift = Annotated[
    bool, typer.Option("--fail-on-drift", help="Exit 1 when any alert is red (for schedulers).")
]
Features = Annotated[
    str | None,
    typer.Option(
        "--features", help="Comma-separated feature columns to monitor (default: all non-output columns)."
    ),
]
Bins = Annotated[int, typer.Option("--bins", help="PSI bins: reference quantiles (10 = deciles).")]
Evidently = Annotated[
    bool, typer.Option("--evidently/--no-evidently", help="Also write the Evidently drift report (slower).")
]
EvidentlyRows = Annotated[
    int, typer.Option("--evidently-rows", help="Rows sampled from each set for the Evidently report.")
]
WithLedger = Annotated[
    bool,
    typer.Option(
        "--ledger/--no-ledger",
        help="Add the book and margin section from the ledger database (CREDITDESK_DB_URL) if any.",
    ),
]
BookDb = Annotated[
    str | None,
    typer.Option(
        "--book",
        help="A book run's database URL: the living book's sections; ledger sections as of its last day.",
    ),
]
BookPopulation = Annotated[
    Path | None, typer.Option("--book-population", help="The book run's population folder (with --book).")
]
Comparison = Annotated[
    Path | None,
    typer.Option(
        "--comparison", help="`creditdesk book compare` output: champion vs challenger (with --book)."
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print the summary as one JSON line at the end.")]


@app.command("report")
def report(
    reference: Reference,
    out: Out,
    current: Current = None,
    reference_scores: ReferenceScores = None,
    current_scores: CurrentScores = None,
    since: Since = None,
    fail_on_drift: FailOnDrift = False,
    features: Features = None,
    bins: Bins = 10,
    evidently: Evidently = True,
    evidently_rows: EvidentlyRows = 50_000,
    with_ledger: WithLedger = True,
    book: BookDb = None,
    book_population: BookPopulation = None,
    comparison: Comparison = None,
    as_json: AsJson = False,
) -> None:
    """Drift, performance and portfolio report for the risk committee (DIR/index.html)."""
    feature_list = [f.strip() for f in features.split(",") if f.strip()] if features else None
    if features is not None and not feature_list:
        raise InputError("--features must name at least one column", field="features")
    if (book is None) != (book_population is None) or (comparison is not None and book is None):
        raise InputError("--book and --book-population go together (--comparison needs them)", field="book")
    from pipelines.reporting import BookInputs

    book_inputs = None if book is None else BookInputs(book, Path(str(book_population)), comparison)
    outcome = run_report(
        reference,
        out,
        current=current,
        since=since,
        reference_scores=reference_scores,
        current_scores=current_scores,
        features=feature_list,
        bins=bins,
        evidently=evidently,
        evidently_max_rows=evidently_rows,
        with_ledger=with_ledger,
        book=book_inputs,
    )
    echo_outcome(outcome)
    if as_json:
        print(json.dumps(brief(outcome)))
    if fail_on_drift and outcome.has_red:
        raise typer.Exit(code=1)


def run_report(reference: str, out: Path, **options: Any) -> ReportOutcome:
    """The report job (``pipelines.reporting.write_report``) with a progress bar on stderr."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from pipelines import reporting

    with Progress(
        TextColumn("{task.description:<32}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as progress:
        task = progress.add_task("reading inputs", total=None)

        def step(text: str, units: int) -> None:
            progress.update(task, advance=units, description=text[:32])

        def start(total: int) -> None:
            progress.update(task, total=total, completed=0)

        return reporting.write_report(reference, out, step=step, start=start, **options)


def echo_outcome(outcome: ReportOutcome) -> None:
    data = outcome.summary
    counts = data["counts"]
    print(f"report: {outcome.index}")
    print(
        f"overall {data['overall']}: {counts['red']} red, {counts['amber']} amber alerts; "
        f"score PSI {data['score']['psi']:.3f}; drifted features: "
        f"{', '.join(data['drifted_features']) or 'none'}"
    )


def brief(outcome: ReportOutcome) -> dict[str, Any]:
    """The ``--json`` line: where the report is and its headline figures."""
    from pipelines.reporting import SUMMARY_FILE

    data = outcome.summary
    return {
        "index": str(outcome.index),
        "summary": str(outcome.out_dir / SUMMARY_FILE),
        "overall": data["overall"],
        "counts": data["counts"],
        "score_psi": data["score"]["psi"],
        "drifted_features": data["drifted_features"],
        "features": {k: v["psi"] for k, v in data["features"].items()},
    }
