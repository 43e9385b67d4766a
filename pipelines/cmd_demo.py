"""``creditdesk demo``: the main job on embedded defaults, one stage after another.

Each stage prints what it did and where it wrote it; the run stops at the first failure
with the reason, so a user always knows how far the demo got.
"""

from __future__ import annotations

import time
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def demo(
        customers: int = typer.Option(20_000, "--customers", "-n", help="size of the synthetic population"),
        seed: int = typer.Option(42, "--seed", help="random seed for the population"),
        serve: bool = typer.Option(True, "--serve/--no-serve", help="end by serving the API"),
    ) -> None:
        """Generate a population and run every stage that exists on the embedded defaults."""
        from rich.progress import Progress

        from creditdesk.errors import InputError
        from creditdesk.settings import get_settings
        from features.synthetic import generate_population

        if customers <= 0:
            raise InputError(f"--customers must be a positive integer, got {customers}")
        settings = get_settings()
        root = Path(settings.var_dir) / "demo"
        raw_dir = root / "raw"
        print(f"creditdesk demo: {customers:,} synthetic customers, seed {seed}, output under {root}")

        started = time.perf_counter()
        with Progress(transient=True) as progress:
            task = progress.add_task("1/1 generate population", total=None)
            manifest = generate_population(
                customers,
                seed,
                raw_dir,
                prices_path=settings.sp500_prices_path,
                on_progress=lambda done, total: progress.update(task, completed=done, total=total),
            )
        rows = manifest["rows"]
        assert isinstance(rows, dict)
        print(
            f"[1] generated the population in {time.perf_counter() - started:.1f} s "
            f"(prices: {manifest['price_source']}): {rows['customers']:,} customers, "
            f"{rows['trades']:,} trades -> {raw_dir}"
        )
        print("Done. Not yet part of the demo (later issues): features, models, pricing, report, API.")
        if serve:
            print("--serve: the API does not exist yet; nothing to serve.")
