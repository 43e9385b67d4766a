"""CLI commands of the `features` room (registered on the main app by ``pipelines.cli``)."""

from __future__ import annotations

import json
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add this room's commands to ``app``; commands import heavy libraries in their bodies."""

    @app.command()
    def features(
        raw: Path = typer.Option(
            ..., "--raw", help="directory of raw parquet tables (creditdesk generate --out)"
        ),
        out: Path = typer.Option(
            ..., "--out", help="directory for features.parquet, labels.parquet, validation.json"
        ),
        as_json: bool = typer.Option(False, "--json", help="print the report as one JSON line at the end"),
    ) -> None:
        """Validate raw tables, build point-in-time features, validate them, write the feature table."""
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        from pipelines.build_features import STEPS, run

        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        ) as progress:
            task = progress.add_task("features", total=len(STEPS))

            def on_step(name: str) -> None:
                progress.update(task, completed=STEPS.index(name), description=f"features: {name}")

            report = run(raw, out, on_step=on_step)
            progress.update(task, completed=len(STEPS))
        raw_summary, feature_summary = report["raw"], report["features"]
        print(
            f"validated {sum(report['rows'].values()):,} raw rows ({raw_summary['evaluated']} expectations), "
            f"built {report['feature_rows']:,} feature rows ({feature_summary['evaluated']} expectations), "
            f"catalogue {report['catalogue_version']}"
        )
        for name, path in report["outputs"].items():
            print(f"  {name:<11} {path}")
        if as_json:
            compact = {k: v for k, v in report.items() if k not in ("raw", "features")}
            compact["expectations"] = {
                "raw": raw_summary["evaluated"],
                "features": feature_summary["evaluated"],
            }
            print(json.dumps(compact))
