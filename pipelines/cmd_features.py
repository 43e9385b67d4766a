"""CLI of the `features` room: ``creditdesk features`` (joined by ``pipelines.cli``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer()


@app.command()
def features(
    raw: Annotated[
        Path, typer.Option("--raw", help="directory of raw parquet tables (creditdesk generate --out)")
    ],
    out: Annotated[
        Path, typer.Option("--out", help="directory for features.parquet, labels.parquet, validation.json")
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="print the report as one JSON line at the end")
    ] = False,
) -> None:
    """Validate raw tables, build point-in-time features, validate them, write the feature table."""
    report = run_features(raw, out)
    echo_report(report)
    if as_json:
        compact = {k: v for k, v in report.items() if k not in ("raw", "features")}
        compact["expectations"] = {
            "raw": report["raw"]["evaluated"],
            "features": report["features"]["evaluated"],
        }
        print(json.dumps(compact))


def run_features(raw: Path, out: Path) -> dict[str, Any]:
    """The feature job (``pipelines.build_features.run``) with a progress bar on stderr."""
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
    return report


def echo_report(report: dict[str, Any]) -> None:
    raw_summary, feature_summary = report["raw"], report["features"]
    print(
        f"validated {sum(report['rows'].values()):,} raw rows ({raw_summary['evaluated']} expectations), "
        f"built {report['feature_rows']:,} feature rows ({feature_summary['evaluated']} expectations), "
        f"catalogue {report['catalogue_version']}"
    )
    for name, path in report["outputs"].items():
        print(f"  {name:<11} {path}")
