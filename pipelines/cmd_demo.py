"""``creditdesk demo``: the loop closed, time-true, one stage after another.

Learn from the past, live through the market, learn from what the books saw: generate a
population, keep the outcomes known by T0 (2019-07-01) and train and promote a champion on
them; run the living book from T0 for 18 months over real prices (the 2020 crash inside it),
deciding each month's applications with that champion; retrain a challenger on the same
history plus the book's matured vintages (labels read from the ledger); compare the two on
the same later applications; write the committee report for the book's last month.

Each stage calls the job a CLI command runs (``pipelines/*``) and prints that command first,
so the demo has no second implementation of anything and any stage can be replayed by
hand. The run stops at the first failing stage with its reason.
"""

from __future__ import annotations

import datetime as dt
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import typer

from creditdesk.errors import InputError

app = typer.Typer()

T0 = dt.date(2019, 7, 1)  # training cut: outcomes observed by this day
BOOK_MONTHS = 18  # 2019-07 .. 2020-12: the 2020 crash and its aftermath
COMPARE_FROM = dt.date(2020, 1, 1)  # later applications: after the challenger's newest book row
MIN_CUSTOMERS = 5_000  # below this the history before T0 trains a degenerate PD (every applicant grade 10)
TRAIN_BUDGET = ("--budget-trials", 5, "--budget-seconds", 20)


@dataclass(frozen=True)
class DemoRun:
    """Where the demo writes, and its sizes and dates: everything a stage needs."""

    root: Path
    customers: int
    seed: int
    t0: dt.date = T0
    months: int = BOOK_MONTHS
    compare_from: dt.date = COMPARE_FROM

    @property
    def raw(self) -> Path:
        return self.root / "raw"

    @property
    def features(self) -> Path:
        return self.root / "features"

    @property
    def history(self) -> Path:
        return self.root / "history"

    @property
    def challenger_data(self) -> Path:
        return self.root / "challenger_data"

    @property
    def book_db(self) -> str:
        return f"sqlite:///{self.root / 'book.db'}"

    @property
    def comparison(self) -> Path:
        return self.root / "champion_vs_challenger.json"

    @property
    def current(self) -> Path:
        return self.root / "current"

    @property
    def decisions(self) -> Path:
        return self.current / "decisions.parquet"

    @property
    def report(self) -> Path:
        return self.root / "report"


def _command(*args: object) -> str:
    return "creditdesk " + " ".join(shlex.quote(str(a)) for a in args)


def _budget() -> Any:
    from models.selection import Budget

    return Budget(trials=int(TRAIN_BUDGET[1]), seconds=float(TRAIN_BUDGET[3]))


def generate_population(run: DemoRun) -> None:
    from pipelines.cmd_generate import echo_manifest, run_generate

    echo_manifest(run_generate(run.customers, run.seed, run.raw), run.raw)


def build_features(run: DemoRun) -> None:
    from pipelines.cmd_features import echo_report, run_features

    echo_report(run_features(run.raw, run.features))


def history_dataset(run: DemoRun) -> None:
    from pipelines.book_dataset import write_dataset

    print(f"  {write_dataset(run.features, run.history, run.t0)}")


def challenger_dataset(run: DemoRun) -> None:
    from pipelines.book_dataset import write_dataset

    print(f"  {write_dataset(run.features, run.challenger_data, run.t0, run.book_db)}")


def _train(folder: Path) -> None:
    from pipelines.training import from_features_dir, train

    summary = train(from_features_dir(folder), register=True, budget=_budget())
    print(
        f"  PD out-of-time AUC {summary.get('auc')} on {summary.get('n_test')} rows;"
        f" registered: {summary.get('registered') or 'nothing'}"
    )


def promote_champion(run: DemoRun) -> None:
    from models.registry import promote

    result = promote()
    state = "promoted" if result["promoted"] else "NOT promoted"
    print(f"  {state}: {result['versions']} (gate {'passed' if result['gate_passed'] else 'failed'})")
    for text in result["gate_reasons"]:
        print(f"  - {text}")
    if not result["promoted"]:
        raise typer.Exit(1)


def run_the_book(run: DemoRun) -> None:
    from pipelines.book import BookConfig, run_book

    config = BookConfig(
        population=run.raw, start=run.t0, months=run.months, seed=run.seed, database_url=run.book_db
    )
    s = run_book(config)
    print(
        f"  {s['days_committed']}/{s['business_days']} business days; decisions {s['decisions']};"
        f" lines {s['lines']}; defaults {s['defaults']}, loss {s['loss_minor']:,} minor"
    )


def compare(run: DemoRun) -> None:
    from pipelines.book_report import compare_models

    r = compare_models(run.features, str(run.compare_from), run.comparison)
    print(
        f"  {r['applications']:,} applications, {r['defaults']} defaults: "
        + "; ".join(f"{m} AUC {r[m]['auc']} Brier {r[m]['brier']}" for m in ("champion", "challenger"))
    )


def export_current(run: DemoRun) -> None:
    from pipelines.book_report import export_current as export

    counts = export(run.book_db, run.features, run.current)
    print(f"  {counts['applications']:,} decisions ({counts['approved']:,} approved) -> {run.current}")


def write_report(run: DemoRun) -> None:
    from pipelines.cmd_monitoring import echo_outcome, run_report
    from pipelines.reporting import BookInputs

    outcome = run_report(
        "models:/creditdesk-pd@champion",
        run.report,
        current=run.current,
        current_scores=run.decisions,
        book=BookInputs(run.book_db, run.raw, run.comparison),
    )
    echo_outcome(outcome)


Stage = tuple[str, str, Callable[[DemoRun], object]]  # what it does, the equivalent command, the job


def stages(run: DemoRun) -> list[Stage]:
    """The demo's stages in order: learn from the past, run the book, learn from the books."""
    return _history_stages(run) + _book_stages(run) + _report_stages(run)


def _history_stages(run: DemoRun) -> list[Stage]:
    return [
        (
            "generate the population (applications 2004-2020, real S&P 500 prices)",
            _command("generate", "--customers", run.customers, "--seed", run.seed, "--out", run.raw),
            generate_population,
        ),
        (
            "validate raw tables, build point-in-time features, validate them",
            _command("features", "--raw", run.raw, "--out", run.features),
            build_features,
        ),
        (
            f"keep what was known on {run.t0}: applications whose 12-month outcome was observed by then",
            _command(
                "book", "dataset", "--features", run.features, "--observed-by", run.t0, "--out", run.history
            ),
            history_dataset,
        ),
        (
            "train PD (+ scorecard challenger), LGD and EAD on that history; register",
            _command("train", "--features", run.history, *TRAIN_BUDGET),
            lambda r: _train(r.history),
        ),
        ("promote it to champion through the gate", _command("promote"), promote_champion),
    ]


def _book_stages(run: DemoRun) -> list[Stage]:
    db = run.book_db
    return [
        (
            f"run the living book from {run.t0} for {run.months} months: decide, open, trade, mark, accrue",
            _command(
                "book",
                "run",
                "--population",
                run.raw,
                "--from",
                run.t0,
                "--months",
                run.months,
                "--seed",
                run.seed,
                "--db",
                db,
            ),
            run_the_book,
        ),
        (
            "the challenger's data: the same history plus the book's matured vintages (ledger labels)",
            _command(
                "book",
                "dataset",
                "--features",
                run.features,
                "--observed-by",
                run.t0,
                "--from-book",
                db,
                "--out",
                run.challenger_data,
            ),
            challenger_dataset,
        ),
        (
            "train the challenger on it; register (not promoted)",
            _command("train", "--features", run.challenger_data, *TRAIN_BUDGET),
            lambda r: _train(r.challenger_data),
        ),
    ]


def _report_stages(run: DemoRun) -> list[Stage]:
    db = run.book_db
    return [
        (
            f"compare champion and challenger on the same later applications (from {run.compare_from})",
            _command(
                "book",
                "compare",
                "--features",
                run.features,
                "--from",
                run.compare_from,
                "--out",
                run.comparison,
            ),
            compare,
        ),
        (
            "export the book's decisions as the report's current set",
            _command("book", "export", "--db", db, "--features", run.features, "--out", run.current),
            export_current,
        ),
        (
            "write the risk-committee report for the book's last month",
            _command(
                "report",
                "--reference",
                "models:/creditdesk-pd@champion",
                "--current",
                run.current,
                "--current-scores",
                run.decisions,
                "--book",
                db,
                "--book-population",
                run.raw,
                "--comparison",
                run.comparison,
                "--out",
                run.report,
            ),
            write_report,
        ),
    ]


@app.command()
def demo(
    customers: Annotated[
        int,
        typer.Option("--customers", "-n", help="size of the population (history and the book's applicants)"),
    ] = 20_000,
    seed: Annotated[int, typer.Option("--seed", help="random seed for the population")] = 42,
    serve: Annotated[bool, typer.Option("--serve/--no-serve", help="end by serving the API")] = True,
    port: Annotated[int, typer.Option("--port", help="port for the API when serving")] = 8000,
) -> None:
    """Train on the past, run the book through 2019-2020, retrain on the books, compare, report, serve."""
    from creditdesk.settings import get_settings

    if customers < MIN_CUSTOMERS:
        raise InputError(
            f"--customers must be at least {MIN_CUSTOMERS:,}: the history before {T0} must train a"
            f" meaningful model, got {customers}",
            field="customers",
        )
    settings = get_settings()
    run = DemoRun(Path(settings.var_dir) / "demo", customers, seed)
    print(
        f"creditdesk demo: {customers:,} customers (seed {seed}); champion trained on outcomes known by"
        f" {run.t0}; the book runs {run.months} months from then in {run.book_db}; output under"
        f" {run.root}; MLflow at {settings.tracking_uri}"
    )
    started = time.perf_counter()
    plan = stages(run)
    total = len(plan) + serve
    for number, (title, command, job) in enumerate(plan, start=1):
        _run_stage(number, total, title, command, partial(job, run))
    print(
        f"\ndemo finished in {time.perf_counter() - started:.0f} s: champion and challenger registered in"
        f" MLflow, the book in {run.book_db}, report at {run.report / 'index.html'}"
    )
    if serve:
        from pipelines.cmd_serving import serve as serve_api

        print(
            f"\nserving the decision API on http://127.0.0.1:{port} (OpenAPI at /docs); "
            "create a key with `creditdesk keys create --role onboarding`; Ctrl-C stops it"
        )
        _run_stage(total, total, "serve", _command("serve", "--port", port), partial(serve_api, port=port))


def _run_stage(number: int, total: int, title: str, command: str, job: Callable[[], object]) -> None:
    """Print the stage and its equivalent command, run its job, say how long it took."""
    print(f"\n[{number}/{total}] {title}\n$ {command}", flush=True)
    started = time.perf_counter()
    job()
    print(f"[{number}/{total}] done in {time.perf_counter() - started:.1f} s", flush=True)
