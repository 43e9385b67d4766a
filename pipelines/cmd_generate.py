"""``creditdesk generate``: the synthetic margin-lending population."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from creditdesk.errors import InputError
from creditdesk.parquet import check_parquet


def register(app: typer.Typer) -> None:
    @app.command()
    def generate(
        customers: int = typer.Option(..., "--customers", "-n", help="number of customers (> 0)"),
        seed: int = typer.Option(42, "--seed", help="random seed; the same seed gives identical tables"),
        out: Path = typer.Option(..., "--out", help="directory for the parquet tables"),
        prices: Path | None = typer.Option(
            None, "--prices", help="daily_prices.parquet (default: ../shared/datasets/sp500_prices)"
        ),
        as_json: bool = typer.Option(False, "--json", help="print the manifest as one JSON line"),
    ) -> None:
        """Write a synthetic population: customers, bureau, trades, cash_flows, applications, outcomes."""
        from rich.progress import Progress

        from creditdesk.settings import get_settings
        from pipelines.generate import generate_population

        if customers <= 0:
            raise InputError(f"--customers must be a positive integer, got {customers}")
        if prices is not None and not prices.exists():
            raise InputError(f"--prices {prices}: file not found")
        if prices is not None:
            check_parquet(prices, "--prices", ("date", "ticker", "adjusted_close", "volume"))
        prices_path = prices or get_settings().sp500_prices_path
        with Progress(transient=True) as progress:
            task = progress.add_task(f"generating {customers:,} customers", total=None)

            def on_progress(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            manifest = generate_population(
                customers, seed, out, prices_path=prices_path, on_progress=on_progress
            )
        rows = manifest["rows"]
        assert isinstance(rows, dict)
        print(f"wrote {customers:,} customers (seed {seed}, prices: {manifest['price_source']}) to {out}")
        for name, count in rows.items():
            print(f"  {name:<13} {count:>12,} rows")
        if as_json:
            print(json.dumps({"out": str(out), **manifest}))
