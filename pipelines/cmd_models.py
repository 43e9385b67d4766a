"""CLI commands of the `models` room: train, benchmark, evaluate, promote, score.

Heavy libraries (lightgbm, mlflow, optbinning, pandas) are imported inside the command
bodies so ``creditdesk --help`` stays fast. Progress goes to stderr; with ``--json`` the
last line of stdout is one JSON object.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

from creditdesk.errors import InputError

DATASETS = ("german", "taiwan", "gmsc", "lending_club")

app = typer.Typer(help="PD/LGD/EAD models: train, benchmark, evaluate, promote, score.", no_args_is_help=True)
DEFAULT_FOLDS = {"german": 10}


@contextmanager
def _progress(description: str) -> Iterator[Callable[[str], None]]:
    """A spinner on stderr whose text follows the job's steps."""
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task(description, total=None)

        def step(text: str) -> None:
            bar.update(task, description=f"{description}: {text}")

        yield step


def _source(
    features: Path | None,
    dataset: str | None,
    csv: Path | None,
    spec: Path | None,
    from_book: str | None = None,
    population: Path | None = None,
) -> Any:
    from pipelines.training import from_features_dir, from_public

    chosen = [x is not None for x in (features, dataset, csv, from_book)]
    if sum(chosen) != 1:
        raise InputError(
            "give exactly one of --features DIR, --dataset NAME, --csv FILE (with --spec),"
            " --from-book DB (with --population)",
            field="source",
        )
    if from_book is not None:  # the living book's matured vintages (issue 15)
        from pipelines.book_training import from_book as book_data

        if population is None:
            raise InputError("--from-book needs --population DIR (the book's population)", field="population")
        return book_data(from_book, population)
    if csv is not None and spec is None:
        raise InputError("--csv needs --spec SPEC.yaml", field="spec")
    if spec is not None and csv is None:
        raise InputError("--spec goes with --csv FILE", field="spec")
    if dataset is not None and dataset not in DATASETS:
        raise InputError(f"--dataset must be one of {', '.join(DATASETS)}, got {dataset!r}", field="dataset")
    if features is not None:
        return from_features_dir(features)
    return from_public(name=dataset, csv=csv, spec=spec)


def _print_json(summary: dict[str, Any]) -> None:
    from pipelines.training import dumps

    typer.echo(dumps(summary))


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _table(title: str, rows: list[tuple[str, Any, Any]], headers: tuple[str, str, str]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for h in headers:
        table.add_column(h)
    for name, a, b in rows:
        table.add_row(name, _fmt(a), _fmt(b))
    Console().print(table)


@app.command("train")
def train_cmd(
    features: Path | None = typer.Option(
        None, help="folder with features.parquet + labels.parquet, or a raw population"
    ),
    dataset: str | None = typer.Option(None, help="public dataset: german, taiwan, gmsc, lending_club"),
    csv: Path | None = typer.Option(None, help="any CSV (with --spec)"),
    spec: Path | None = typer.Option(None, help="YAML spec for --csv"),
    from_book: str | None = typer.Option(
        None, "--from-book", help="a book run's database URL: train on its matured vintages"
    ),
    population: Path | None = typer.Option(None, help="the book's population folder (with --from-book)"),
    dask: bool = typer.Option(False, "--dask", help="train with lightgbm.dask (local 2-worker cluster)"),
    scheduler: str | None = typer.Option(None, help="Dask scheduler address (with --dask)"),
    no_register: bool = typer.Option(False, "--no-register", help="log the run but register nothing"),
    tracking_uri: str | None = typer.Option(None, help="MLflow tracking URI (default: settings)"),
    out_of_time: bool = typer.Option(
        True,
        "--out-of-time/--random-split",
        help="dated data: validate on the latest applications, train on older ones (default); "
        "--random-split: a stratified random 80/20 hold-out",
    ),
    reject_inference: str | None = typer.Option(
        None,
        "--reject-inference",
        help="train on approved applicants only, then: approved_only, augmentation, parcelling, fuzzy",
    ),
    reject_factor: float = typer.Option(
        1.0,
        help="with --reject-inference: declined applicants' risk relative to approved with the same score",
    ),
    legacy_approval_rate: float | None = typer.Option(
        None, help="data without an 'approved' column: replay the legacy bureau policy at this approval rate"
    ),
    fairness_attribute: list[str] | None = typer.Option(
        None, help="protected attribute for adverse impact (age_band, region); repeatable; default all"
    ),
    budget_trials: int = typer.Option(10, help="Optuna trials for the LightGBM candidate"),
    budget_seconds: float = typer.Option(40.0, help="tuning time for the LightGBM candidate, seconds"),
    as_json: bool = typer.Option(False, "--json", help="last line of stdout is one JSON object"),
) -> None:
    """Select the PD (tuned LightGBM, WoE scorecard or blend, by inner CV), fit LGD and EAD; validate
    out of time where the data is dated; log to MLflow; register as challenger.

    Only the platform's own data (--features) is registered: public datasets have no LGD/EAD
    labels and other features than the catalogue, so their runs are logged, not registered.
    """
    from pipelines.training import Budget, train

    if scheduler and not dask:
        raise InputError("--scheduler needs --dask", field="scheduler")
    budget = Budget(budget_trials, budget_seconds)
    data = _source(features, dataset, csv, spec, from_book, population)
    _set_training_options(
        data, fairness_attribute, out_of_time, reject_inference, reject_factor, legacy_approval_rate
    )
    with _progress(f"training on {data.name}") as step:
        summary = train(data, register=not no_register, dask=dask, scheduler=scheduler,
                        tracking_uri=tracking_uri, budget=budget, progress=step)  # fmt: skip
    if as_json:
        _print_json(summary)
    else:
        _print_training(data.name, summary)


def _set_training_options(
    data: Any,
    fairness_attribute: list[str] | None,
    out_of_time: bool,
    reject_inference: str | None,
    reject_factor: float,
    legacy_approval_rate: float | None,
) -> None:
    """Put ``train``'s options on the training data (``TrainingData`` carries them to the job),
    refusing a bad ``--reject-factor`` before any training starts."""
    from pipelines.reject_study import with_legacy_decisions

    data.fairness_attributes = list(fairness_attribute) if fairness_attribute else None
    data.out_of_time = out_of_time
    if reject_factor <= 0:
        raise InputError(f"--reject-factor must be > 0, got {reject_factor}", field="reject_factor")
    data.reject_inference, data.reject_factor = reject_inference, reject_factor
    with_legacy_decisions(data, legacy_approval_rate)


def _print_training(name: str, summary: dict[str, Any]) -> None:
    """The training summary for a person: hold-out metrics, LGD, reject inference, Dask, where it went."""
    metrics = ("auc", "gini", "ks", "brier", "ece", "jeffreys_pass_share", "psi_train_test")
    rows = [(k, summary.get(k), summary.get("auc_scorecard") if k == "auc" else "") for k in metrics]
    _table(f"{name}: hold-out ({summary['split']}), selected PD: {summary['pd_model']}", rows,
           ("metric", "selected PD", "scorecard"))  # fmt: skip
    if "lgd" in summary:
        lgd = summary["lgd"]
        _table(
            "LGD on test defaults",
            [(m, v["mae"], v["r2"]) for m, v in lgd.items()],
            ("model", "MAE", "R²"),
        )
    if summary.get("reject_inference"):
        ri = summary["reject_inference"]
        base = ri["approved_only_model"]["all_applicants"]
        typer.echo(
            f"reject inference {ri['method']}: all applicants AUC {ri['all_applicants']['auc']:.4f} "
            f"(approved-only model {base['auc']:.4f}), mean PD {ri['all_applicants']['mean_pd']:.4f} "
            f"(approved-only {base['mean_pd']:.4f}) vs observed {base['observed_rate']:.4f}"
        )
    if summary.get("dask"):
        typer.echo(
            f"dask AUC {summary['dask']['auc_dask']:.4f} "
            f"vs in-process {summary['dask']['auc_in_process']:.4f}"
        )
    typer.echo(
        f"registered: {summary.get('registered') or summary['registration']}; run {summary['run_id']}; "
        f"pack {summary['out_dir']}"
    )


@app.command("reject-inference")
def reject_inference_cmd(
    features: Path = typer.Option(
        ..., help="folder with features.parquet + labels.parquet, or a raw population"
    ),
    legacy_approval_rate: float | None = typer.Option(
        None, help="data without an 'approved' column: replay the legacy bureau policy at this approval rate"
    ),
    reject_factor: float = typer.Option(
        1.0, help="declined applicants' risk relative to approved, same score"
    ),
    seed: int = typer.Option(42, help="seed of the learners and of parcelling's draws"),
    as_json: bool = typer.Option(False, "--json", help="last line of stdout is one JSON object"),
) -> None:
    """Reject inference measured against the through-the-door truth: approved-only, augmentation,
    parcelling and fuzzy augmentation, each scored on every test applicant and on the approved."""
    from pipelines.reject_study import study, with_legacy_decisions
    from pipelines.training import from_features_dir

    if reject_factor <= 0:
        raise InputError(f"--reject-factor must be > 0, got {reject_factor}", field="reject_factor")
    data = with_legacy_decisions(from_features_dir(features), legacy_approval_rate)
    with _progress(f"reject inference on {data.name}") as step:
        step("fitting every method on the approved applicants of the older vintages")
        result = study(data, reject_factor=reject_factor, seed=seed)
    if as_json:
        _print_json(result)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{data.name}: {result['split']}, {result['decision_source']}")
    for h in (
        "method",
        "AUC all",
        "AUC approved",
        "mean PD all",
        "observed all",
        "Brier all",
        "Jeffreys all",
    ):
        table.add_column(h)
    for row in result["methods"]:
        a, b = row["all_applicants"], row["approved_only"]
        table.add_row(row["method"], *(_fmt(v) for v in (a["auc"], b["auc"], a["mean_pd"], a["observed_rate"],
                                                         a["brier"], a["jeffreys_pass_share"])))  # fmt: skip
    Console().print(table)


@app.command("benchmark")
def benchmark_cmd(
    dataset: str | None = typer.Option(None, help="german, taiwan, gmsc or lending_club"),
    csv: Path | None = typer.Option(None, help="any CSV (with --spec)"),
    spec: Path | None = typer.Option(None, help="YAML spec for --csv"),
    folds: int | None = typer.Option(None, help="K for stratified K-fold (default 10 for german, else 5)"),
    budget_trials: int = typer.Option(10, help="Optuna trials per fit for the LightGBM candidate"),
    budget_seconds: float = typer.Option(40.0, help="tuning time per fit, seconds"),
    as_json: bool = typer.Option(False, "--json", help="last line of stdout is one JSON object"),
) -> None:
    """Nested CV of the PD selection (tuned LightGBM, WoE scorecard, blend), every candidate reported."""
    from pipelines.training import Budget, benchmark

    budget = Budget(budget_trials, budget_seconds)
    data = _source(None, dataset, csv, spec)
    k = folds if folds is not None else DEFAULT_FOLDS.get(dataset or "", 5)
    with _progress(f"benchmark on {data.name}") as step:
        result = benchmark(data, folds=k, budget=budget, progress=step)
    if as_json:
        _print_json(result)
        return
    cands = result["candidates"]
    rows = [(m, result[m], " / ".join(f"{n} {c[m]:.4f}" for n, c in cands.items()))
            for m in ("auc", "gini", "ks", "brier", "ece", "jeffreys_pass_share")]  # fmt: skip
    title = (f"{data.name}: {result['validation']}, n={result['n']}, bad rate {result['bad_rate']:.3f}, "
             f"selected {result['selected_per_fold']}")  # fmt: skip
    _table(title, rows, ("metric", "selected", "candidates"))


@app.command("promote")
def promote_cmd(
    version: int | None = typer.Option(None, help="creditdesk-pd version (default: @challenger)"),
    force: bool = typer.Option(False, "--force", help="promote even if the gate fails (needs --reason)"),
    reason: str | None = typer.Option(None, help="why the gate is overridden; recorded as a tag"),
    tracking_uri: str | None = typer.Option(None, help="MLflow tracking URI (default: settings)"),
    approval: str | None = typer.Option(
        None, help="--force: an approved forced_promotion request naming this pd_version (maker-checker)"
    ),
    as_json: bool = typer.Option(False, "--json", help="last line of stdout is one JSON object"),
) -> None:
    """Move the `champion` alias through the gate (AUC, Jeffreys calibration, monotonicity).

    ``--force`` overrides the gate only under a ``forced_promotion`` request approved by a
    second key (``creditdesk approvals``) whose subject names the PD version."""
    from models.registry import promote

    if not (force and reason and reason.strip()):  # no override: the gate decides (or --reason is missing)
        with _progress("promotion gate") as step:
            step("scoring champion and challenger on the same hold-out")
            result = promote(version=version, force=force, reason=reason, tracking_uri=tracking_uri)
    else:
        from pipelines.cmd_serving import consume_approval

        version = _pd_version(version, tracking_uri)
        with consume_approval(approval, "forced_promotion", {"pd_version": version}, "--approval"):
            result = promote(version=version, force=True, reason=reason, tracking_uri=tracking_uri)
    if as_json:
        _print_json(result)
    else:
        state = "promoted" if result["promoted"] else "NOT promoted"
        typer.echo(f"{state}: {result['versions']} (gate {'passed' if result['gate_passed'] else 'failed'})")
        for text in result["gate_reasons"]:
            typer.echo(f"  - {text}")
    if not result["promoted"]:
        raise typer.Exit(1)


def _pd_version(version: int | None, tracking_uri: str | None) -> int:
    """The PD version a forced promotion moves: the given one, else ``@challenger``'s."""
    if version is not None:
        return version
    from models.registry import CHALLENGER, PD_NAME, _version_by_alias, client

    found = _version_by_alias(client(tracking_uri), PD_NAME, CHALLENGER)
    if found is None:
        raise InputError(f"no {PD_NAME}@{CHALLENGER}: train a model first", field="--version")
    return int(found.version)


@app.command("evaluate")
def evaluate_cmd(
    features: Path = typer.Option(
        ..., help="labelled data: features.parquet + labels.parquet, or a raw population"
    ),
    alias: str = typer.Option("champion", help="registry alias to evaluate"),
    out: Path | None = typer.Option(
        None, help="folder for the validation pack (default var/evaluations/...)"
    ),
    tracking_uri: str | None = typer.Option(None, help="MLflow tracking URI (default: settings)"),
    as_json: bool = typer.Option(False, "--json", help="last line of stdout is one JSON object"),
) -> None:
    """Score labelled data with a registered model set and write its validation pack."""
    import time

    import numpy as np

    from creditdesk.settings import get_settings
    from models.registry import load_champions
    from models.validation import validate_pd, write_validation_pack
    from pipelines.training import from_features_dir

    data = from_features_dir(features)
    with _progress("evaluate") as step:
        step(f"loading @{alias}")
        try:
            champions = load_champions(tracking_uri, alias=alias)
        except LookupError as exc:
            raise InputError(str(exc), field="alias") from None
        step("scoring")
        matrix = champions.pd.encoder.transform(data.X)
        pd_ = champions.pd.pd_from_matrix(matrix)
        report = validate_pd(data.y, pd_)
        report["versions"] = champions.versions
        target = out or get_settings().var_dir / "evaluations" / f"{alias}-{time.strftime('%Y%m%dT%H%M%S')}"
        write_validation_pack(report, target, y_test=data.y, pd_test=pd_)
    summary = {
        k: report[k] for k in ("n", "bad_rate", "auc", "gini", "ks", "brier", "ece", "jeffreys_pass_share")
    }
    summary.update({"versions": champions.versions, "out_dir": str(target), "mean_pd": float(np.mean(pd_))})
    if as_json:
        _print_json(summary)
    else:
        rows = [(k, v, "") for k, v in summary.items() if isinstance(v, float)]
        _table(f"@{alias} {champions.versions}", rows, ("metric", "value", ""))


@app.command("score")
def score_cmd(
    input: Path = typer.Option(
        ..., "--input", help="features.parquet / .csv with catalogue columns, or a raw population folder"
    ),
    output: Path = typer.Option(..., "--output", help="parquet file to write (written atomically)"),
    alias: str = typer.Option("champion", help="registry alias to score with"),
    tracking_uri: str | None = typer.Option(None, help="MLflow tracking URI (default: settings)"),
    as_json: bool = typer.Option(False, "--json", help="last line of stdout is one JSON object"),
) -> None:
    """Batch-score applications: PD, grade, LGD, CCF and up to four reasons per row."""
    from pipelines.scoring import score_file

    with _progress("score") as step:
        summary = score_file(input, output, alias=alias, tracking_uri=tracking_uri, step=step)
    if as_json:
        _print_json(summary)
    else:
        typer.echo(f"scored {summary['rows']:,} rows (mean PD {summary['mean_pd']:.4f}) -> {output}")
