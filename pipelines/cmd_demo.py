"""``creditdesk demo``: the main job on embedded defaults, one stage after another.

Each stage is a small function that calls the job a CLI command runs (``pipelines/*``) and
prints that command first, so the demo has no second implementation of anything and any
stage can be replayed by hand. The run stops at the first failing stage with its reason.
"""

from __future__ import annotations

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


@dataclass(frozen=True)
class DemoRun:
    """Where the demo writes, and its sizes: everything a stage needs."""

    root: Path
    customers: int
    seed: int

    @property
    def current_customers(self) -> int:
        return max(1_000, self.customers // 4)

    @property
    def raw(self) -> Path:
        return self.root / "raw"

    @property
    def features(self) -> Path:
        return self.root / "features"

    @property
    def current_raw(self) -> Path:
        return self.root / "current_raw"

    @property
    def current_features(self) -> Path:
        return self.root / "current_features"

    @property
    def current_scores(self) -> Path:
        return self.root / "current_scores.parquet"

    @property
    def decisions(self) -> Path:
        return self.root / "decisions.parquet"

    @property
    def report(self) -> Path:
        return self.root / "report"


def _command(*args: object) -> str:
    return "creditdesk " + " ".join(shlex.quote(str(a)) for a in args)


def generate_training(run: DemoRun) -> None:
    from pipelines.cmd_generate import echo_manifest, run_generate

    echo_manifest(run_generate(run.customers, run.seed, run.raw), run.raw)


def build_training_features(run: DemoRun) -> None:
    from pipelines.cmd_features import echo_report, run_features

    echo_report(run_features(run.raw, run.features))


def train_models(run: DemoRun) -> None:
    from pipelines.training import from_features_dir, train

    summary = train(from_features_dir(run.features), register=True)
    print(f"  PD hold-out AUC {summary.get('auc')}; registered: {summary.get('registered') or 'nothing'}")


def promote_champion(run: DemoRun) -> None:
    from models.registry import promote

    result = promote()
    state = "promoted" if result["promoted"] else "NOT promoted"
    print(f"  {state}: {result['versions']} (gate {'passed' if result['gate_passed'] else 'failed'})")
    for text in result["gate_reasons"]:
        print(f"  - {text}")
    if not result["promoted"]:
        raise typer.Exit(1)


def generate_current(run: DemoRun) -> None:
    from pipelines.cmd_generate import echo_manifest, run_generate

    echo_manifest(run_generate(run.current_customers, run.seed + 1, run.current_raw), run.current_raw)


def build_current_features(run: DemoRun) -> None:
    from pipelines.cmd_features import echo_report, run_features

    echo_report(run_features(run.current_raw, run.current_features))


def score_current(run: DemoRun) -> None:
    from pipelines.scoring import score_file

    summary = score_file(run.current_features / "features.parquet", run.current_scores)
    print(f"  scored {summary['rows']:,} rows (mean PD {summary['mean_pd']:.4f}) -> {run.current_scores}")


def decide_current(run: DemoRun) -> dict[str, Any]:
    from pipelines.cmd_pricing import echo_decisions, run_decide

    summary = run_decide(
        run.current_raw, run.current_features / "features.parquet", run.current_scores, run.decisions
    )
    echo_decisions(summary, run.decisions)
    return summary


def write_report(run: DemoRun) -> None:
    from pipelines.cmd_monitoring import echo_outcome, run_report

    # The decisions carry the scores plus each decision and its pricing: the portfolio section.
    outcome = run_report(
        "models:/creditdesk-pd@champion",
        run.report,
        current=run.current_features,
        current_scores=run.decisions,
    )
    echo_outcome(outcome)


Stage = tuple[str, str, Callable[[DemoRun], object]]  # what it does, the equivalent command, the job


def stages(run: DemoRun) -> list[Stage]:
    """The demo's stages in order: learn from the training population, then decide a new one."""
    return _training_stages(run) + _current_stages(run)


def _training_stages(run: DemoRun) -> list[Stage]:
    return [
        (
            "generate the training population",
            _command("generate", "--customers", run.customers, "--seed", run.seed, "--out", run.raw),
            generate_training,
        ),
        (
            "validate raw tables, build point-in-time features, validate them",
            _command("features", "--raw", run.raw, "--out", run.features),
            build_training_features,
        ),
        (
            "train PD (+ scorecard challenger), LGD and EAD; register as challenger",
            _command("train", "--features", run.features),
            train_models,
        ),
        ("promote the challenger to champion through the gate", _command("promote"), promote_champion),
    ]


def _current_stages(run: DemoRun) -> list[Stage]:
    cur_features = run.current_features / "features.parquet"
    return [
        (
            "generate this month's applications (a new population)",
            _command(
                "generate",
                "--customers",
                run.current_customers,
                "--seed",
                run.seed + 1,
                "--out",
                run.current_raw,
            ),
            generate_current,
        ),
        (
            "build and validate their features",
            _command("features", "--raw", run.current_raw, "--out", run.current_features),
            build_current_features,
        ),
        (
            "score the new applications with the champion",
            _command("score", "--input", cur_features, "--output", run.current_scores),
            score_current,
        ),
        (
            "price and decide the new applications (the API's decide() over the batch)",
            _command(
                "decide",
                "--raw",
                run.current_raw,
                "--features",
                cur_features,
                "--scores",
                run.current_scores,
                "--out",
                run.decisions,
            ),
            decide_current,
        ),
        (
            "write the risk-committee report against the champion's training reference",
            _command(
                "report",
                "--reference",
                "models:/creditdesk-pd@champion",
                "--current",
                run.current_features,
                "--current-scores",
                run.decisions,
                "--out",
                run.report,
            ),
            write_report,
        ),
    ]


@app.command()
def demo(
    customers: Annotated[
        int, typer.Option("--customers", "-n", help="size of the training population")
    ] = 20_000,
    seed: Annotated[int, typer.Option("--seed", help="random seed for the population")] = 42,
    serve: Annotated[bool, typer.Option("--serve/--no-serve", help="end by serving the API")] = True,
    port: Annotated[int, typer.Option("--port", help="port for the API when serving")] = 8000,
) -> None:
    """Generate, build features, train, promote, score and decide a new batch, report, serve."""
    from creditdesk.settings import get_settings

    if customers < 1_000:
        raise InputError(f"--customers must be at least 1000 for a meaningful model, got {customers}")
    settings = get_settings()
    run = DemoRun(Path(settings.var_dir) / "demo", customers, seed)
    print(
        f"creditdesk demo: {customers:,} customers to train on, {run.current_customers:,} new applications "
        f"to decide (seeds {seed}, {seed + 1}); output under {run.root}; "
        f"MLflow at {settings.tracking_uri}; ledger and decision log at {settings.database_url}"
    )
    started = time.perf_counter()
    plan = stages(run)
    total = len(plan) + serve
    for number, (title, command, job) in enumerate(plan, start=1):
        _run_stage(number, total, title, command, partial(job, run))
    print(
        f"\ndemo finished in {time.perf_counter() - started:.0f} s: champion registered in MLflow, "
        f"decisions in {run.decisions}, report at {run.report / 'index.html'}"
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
