"""CLI commands of the `monitoring` room (registered on the main app by ``pipelines.cli``)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from creditdesk.errors import InputError


def register(app: typer.Typer) -> None:
    """Add this room's commands to ``app``; commands import heavy libraries in their bodies."""

    @app.command("report")
    def report(
        reference: str = typer.Option(
            ...,
            "--reference",
            help="Parquet of the reference set (feature columns plus pd_12m or score, grade, optionally "
            "default_12m, application_date, lgd, realised_lgd, pricing columns), or the reference a "
            "training run logged: runs:/RUN_ID or models:/creditdesk-pd@champion.",
        ),
        current: Path | None = typer.Option(
            None,
            "--current",
            help="Parquet of the current set (same columns and types as the reference), or a "
            "`creditdesk features` output folder (with --current-scores).",
        ),
        reference_scores: Path | None = typer.Option(
            None,
            "--reference-scores",
            help="`creditdesk score` output to join to a features folder reference.",
        ),
        current_scores: Path | None = typer.Option(
            None,
            "--current-scores",
            help="`creditdesk score` output to join to a features folder current set.",
        ),
        since: str | None = typer.Option(
            None,
            "--since",
            help="Read the current set from the decision log: decisions on or after this date (YYYY-MM-DD).",
        ),
        out: Path = typer.Option(
            ..., "--out", help="Directory to write index.html, drift.html, summary.json."
        ),
        fail_on_drift: bool = typer.Option(
            False, "--fail-on-drift", help="Exit 1 when any alert is red (for schedulers)."
        ),
        features: str | None = typer.Option(
            None,
            "--features",
            help="Comma-separated feature columns to monitor (default: all non-output columns).",
        ),
        bins: int = typer.Option(10, "--bins", help="PSI bins: reference quantiles (10 = deciles)."),
        evidently: bool = typer.Option(
            True, "--evidently/--no-evidently", help="Also write the Evidently drift report (slower)."
        ),
        evidently_rows: int = typer.Option(
            50_000, "--evidently-rows", help="Rows sampled from each set for the Evidently report."
        ),
        with_ledger: bool = typer.Option(
            True,
            "--ledger/--no-ledger",
            help="Add the book and margin section from the ledger database (CREDITDESK_DB_URL) if any.",
        ),
        as_json: bool = typer.Option(False, "--json", help="Print the summary as one JSON line at the end."),
    ) -> None:
        """Drift, performance and portfolio report for the risk committee (DIR/index.html)."""
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        from pipelines import reporting

        feature_list = [f.strip() for f in features.split(",") if f.strip()] if features else None
        if features is not None and not feature_list:
            raise InputError("--features must name at least one column", field="features")

        console = Console(stderr=True)
        with Progress(
            TextColumn("{task.description:<32}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as progress:
            task = progress.add_task("reading inputs", total=None)

            def step(text: str, units: int) -> None:
                progress.update(task, advance=units, description=text[:32])

            def start(total: int) -> None:
                progress.update(task, total=total, completed=0)

            outcome = reporting.write_report(
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
                step=step,
                start=start,
            )
        data = outcome.summary
        counts = data["counts"]
        print(f"report: {outcome.index}")
        print(
            f"overall {data['overall']}: {counts['red']} red, {counts['amber']} amber alerts; "
            f"score PSI {data['score']['psi']:.3f}; drifted features: "
            f"{', '.join(data['drifted_features']) or 'none'}"
        )
        if as_json:
            brief = {
                "index": str(outcome.index),
                "summary": str(outcome.out_dir / reporting.SUMMARY_FILE),
                "overall": data["overall"],
                "counts": counts,
                "score_psi": data["score"]["psi"],
                "drifted_features": data["drifted_features"],
                "features": {k: v["psi"] for k, v in data["features"].items()},
            }
            print(json.dumps(brief))
        if fail_on_drift and outcome.has_red:
            raise typer.Exit(code=1)
