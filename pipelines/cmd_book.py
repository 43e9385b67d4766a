"""``creditdesk book …``: the living book (decode the options, call ``pipelines.book``, print)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated

import typer

from creditdesk.errors import InputError

app = typer.Typer(
    help="The living book: decide, open, trade, mark, accrue, provision, day by day.", no_args_is_help=True
)


def _day(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise InputError(f"--from must be a date YYYY-MM-DD, got {value!r}", field="from") from exc


@app.command("run")
def run(
    population: Annotated[Path, typer.Option(help="a population folder from `creditdesk generate`")],
    start: Annotated[str, typer.Option("--from", help="first day of the book, YYYY-MM-DD")],
    months: Annotated[int, typer.Option(help="how many months to run")] = 12,
    seed: Annotated[int, typer.Option(help="random seed of the customers' behaviour")] = 42,
    db: Annotated[
        str | None, typer.Option(help="service database URL (default: CREDITDESK_DB_URL or var/ledger.db)")
    ] = None,
    models: Annotated[
        Path | None,
        typer.Option(help="a train output folder (pd/, lgd/, ead/); default: the registry's champion"),
    ] = None,
    base_rates: Annotated[Path | None, typer.Option(help="base-rate CSV month,fixing_date,rate_bps")] = None,
    policy: Annotated[Path | None, typer.Option(help="pricing policy YAML")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="last line of stdout is one JSON object")] = False,
) -> None:
    """Run (or resume) the book from --from for --months; each business day commits atomically."""
    from pipelines.book import BookConfig, run_book

    config = BookConfig(
        population=population,
        start=_day(start),
        months=months,
        seed=seed,
        database_url=db,
        models_dir=models,
        base_rates=base_rates,
        policy_path=policy,
    )

    def progress(_book: object, day: int, counts: dict[str, int]) -> None:
        if not as_json:
            typer.echo(
                f"{day}  "
                + " ".join(f"{k}={v}" for k, v in sorted(counts.items()) if not k.startswith("stage"))
            )

    summary = run_book(config, on_day=progress)
    if as_json:
        typer.echo(json.dumps(summary, sort_keys=True, default=str))
        return
    typer.echo(
        f"book {summary['run_key']}: {summary['days_committed']}/{summary['business_days']} business days"
        f" committed"
        f" ({summary['days_run_now']} now); lines {summary['lines']}; defaults {summary['defaults']},"
        f" loss {summary['loss_minor']:,} minor"
    )
