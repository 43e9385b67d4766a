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


def _day(value: str, option: str = "from") -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise InputError(f"--{option} must be a date YYYY-MM-DD, got {value!r}", field=option) from exc


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


@app.command("dataset")
def dataset(
    features: Annotated[Path, typer.Option(help="a `creditdesk features` folder (features + labels)")],
    observed_by: Annotated[str, typer.Option(help="keep outcomes known by this date, YYYY-MM-DD")],
    out: Annotated[Path, typer.Option(help="output folder (a features-shaped training set)")],
    from_book: Annotated[
        str | None, typer.Option("--from-book", help="a book run's database URL: add its matured lines")
    ] = None,
) -> None:
    """A time-true training set: outcomes observed by a date, plus the book's matured vintages."""
    from pipelines.book_dataset import write_dataset

    counts = write_dataset(features, out, _day(observed_by, "observed-by"), from_book)
    typer.echo(" ".join(f"{k}={v}" for k, v in counts.items()) + f" -> {out}")


@app.command("export")
def export(
    db: Annotated[str, typer.Option(help="the book run's database URL")],
    features: Annotated[Path, typer.Option(help="the population's `creditdesk features` folder")],
    out: Annotated[Path, typer.Option(help="output folder: features.parquet + decisions.parquet")],
) -> None:
    """The book's decided applications as a monitoring set for `creditdesk report`."""
    from pipelines.book_report import export_current

    counts = export_current(db, features, out)
    typer.echo(f"{counts['applications']:,} decisions ({counts['approved']:,} approved) -> {out}")


@app.command("compare")
def compare(
    features: Annotated[Path, typer.Option(help="the population's `creditdesk features` folder")],
    start: Annotated[str, typer.Option("--from", help="compare on applications from this date")],
    out: Annotated[Path, typer.Option(help="JSON file for the comparison")],
    champion: Annotated[
        Path | None, typer.Option(help="the champion's train output folder; default: the registry's")
    ] = None,
    challenger: Annotated[
        Path | None, typer.Option(help="the challenger's train output folder; default: the registry's")
    ] = None,
) -> None:
    """Champion and challenger PD on the same later applications: AUC, Brier, mean PD."""
    from pipelines.book_report import compare_models

    result = compare_models(features, str(_day(start)), out, champion, challenger)
    typer.echo(
        f"{result['applications']:,} applications ({result['defaults']} defaults): "
        + "; ".join(
            f"{m} AUC {result[m]['auc']} Brier {result[m]['brier']}" for m in ("champion", "challenger")
        )
        + f" -> {out}"
    )
