"""CLI of the synthetic population: ``creditdesk generate`` (joined by ``pipelines.cli``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from creditdesk.errors import InputError
from creditdesk.parquet import check_parquet

app = typer.Typer()


@app.command()
def generate(
    customers: Annotated[int, typer.Option("--customers", "-n", help="number of customers (> 0)")],
    out: Annotated[Path, typer.Option("--out", help="directory for the parquet tables")],
    seed: Annotated[
        int, typer.Option("--seed", help="random seed; the same seed gives identical tables")
    ] = 42,
    prices: Annotated[
        Path | None,
        typer.Option("--prices", help="daily_prices.parquet (default: ../shared/datasets/sp500_prices)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the manifest as one JSON line")] = False,
) -> None:
    """Write a synthetic population: customers, bureau, trades, cash_flows, applications, outcomes."""
    if prices is not None and not prices.exists():
        raise InputError(f"--prices {prices}: file not found")
    if prices is not None:
        check_parquet(prices, "--prices", ("date", "ticker", "adjusted_close", "volume"))
    manifest = run_generate(customers, seed, out, prices)
    echo_manifest(manifest, out)
    if as_json:
        print(json.dumps({"out": str(out), **manifest}))


def run_generate(customers: int, seed: int, out: Path, prices: Path | None = None) -> dict[str, Any]:
    """The generate job with a progress bar; prices default to the shared S&P 500 paths."""
    from rich.progress import Progress

    from creditdesk.settings import get_settings
    from pipelines.generate import generate_population

    prices_path = prices or get_settings().sp500_prices_path
    with Progress(transient=True) as progress:
        task = progress.add_task(f"generating {customers:,} customers", total=None)

        def on_progress(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        return generate_population(customers, seed, out, prices_path=prices_path, on_progress=on_progress)


def echo_manifest(manifest: dict[str, Any], out: Path) -> None:
    rows = manifest["rows"]
    print(
        f"wrote {manifest['customers']:,} customers (seed {manifest['seed']}, "
        f"prices: {manifest['price_source']}) to {out}"
    )
    for name, count in rows.items():
        print(f"  {name:<13} {count:>12,} rows")
