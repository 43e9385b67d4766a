"""``creditdesk demo``: the main job on embedded defaults, one stage after another.

The demo is the CLI itself, run stage by stage in one process: every stage is exactly the
command a user would type (printed before it runs), so the demo never has a second
implementation of anything and the user can replay any stage by hand. The run stops at
the first failing stage with its reason.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer


def _stage(number: int, total: int, title: str, args: list[str]) -> None:
    """Run one CLI command in this process; raise (exit 2 for bad input) on failure."""
    from pipelines.cli import app

    print(f"\n[{number}/{total}] {title}\n$ creditdesk {' '.join(args)}", flush=True)
    started = time.perf_counter()
    result = app(args=args, prog_name="creditdesk", standalone_mode=False)
    if isinstance(result, int) and result != 0:
        raise typer.Exit(result)
    print(f"[{number}/{total}] done in {time.perf_counter() - started:.1f} s", flush=True)


def register(app: typer.Typer) -> None:
    @app.command()
    def demo(
        customers: int = typer.Option(20_000, "--customers", "-n", help="size of the training population"),
        seed: int = typer.Option(42, "--seed", help="random seed for the population"),
        serve: bool = typer.Option(True, "--serve/--no-serve", help="end by serving the API"),
        port: int = typer.Option(8000, "--port", help="port for the API when serving"),
    ) -> None:
        """Generate, build features, train, promote, score and decide a new batch, report, serve."""
        from creditdesk.errors import InputError
        from creditdesk.settings import get_settings

        if customers < 1_000:
            raise InputError(f"--customers must be at least 1000 for a meaningful model, got {customers}")
        settings = get_settings()
        root = Path(settings.var_dir) / "demo"
        current_customers = max(1_000, customers // 4)
        total = 10 if serve else 9
        print(
            f"creditdesk demo: {customers:,} customers to train on, {current_customers:,} new applications "
            f"to decide (seeds {seed}, {seed + 1}); output under {root}; "
            f"MLflow at {settings.tracking_uri}; ledger and decision log at {settings.database_url}"
        )
        started = time.perf_counter()
        raw, feats = root / "raw", root / "features"
        cur_raw, cur_feats = root / "current_raw", root / "current_features"
        cur_scores = root / "current_scores.parquet"
        decisions, report = root / "decisions.parquet", root / "report"
        n = str(customers)
        _stage(
            1,
            total,
            "generate the training population",
            ["generate", "--customers", n, "--seed", str(seed), "--out", str(raw)],
        )
        _stage(
            2,
            total,
            "validate raw tables, build point-in-time features, validate them",
            ["features", "--raw", str(raw), "--out", str(feats)],
        )
        _stage(
            3,
            total,
            "train PD (+ scorecard challenger), LGD and EAD; register as challenger",
            ["train", "--features", str(feats)],
        )
        _stage(4, total, "promote the challenger to champion through the gate", ["promote"])
        _stage(
            5,
            total,
            "generate this month's applications (a new population)",
            [
                "generate",
                "--customers",
                str(current_customers),
                "--seed",
                str(seed + 1),
                "--out",
                str(cur_raw),
            ],
        )
        _stage(
            6,
            total,
            "build and validate their features",
            ["features", "--raw", str(cur_raw), "--out", str(cur_feats)],
        )
        _stage(
            7,
            total,
            "score the new applications with the champion",
            ["score", "--input", str(cur_feats / "features.parquet"), "--output", str(cur_scores)],
        )
        print(f"\n[8/{total}] price and decide the new applications (pricing.decision.decide over the batch)")
        summary = _decide(cur_raw, cur_feats, cur_scores, decisions)
        _stage(
            9,
            total,
            "write the risk-committee report against the champion's training reference",
            [
                "report",
                "--reference",
                "models:/creditdesk-pd@champion",
                "--current",
                str(cur_feats),
                "--current-scores",
                str(decisions),  # scores plus the decision and its pricing: the portfolio section
                "--out",
                str(report),
            ],
        )
        print(
            f"\ndemo finished in {time.perf_counter() - started:.0f} s: champion registered in MLflow, "
            f"{summary['decisions']:,} decisions in {decisions}, report at {report / 'index.html'}"
        )
        if serve:
            print(
                f"\n[10/{total}] serving the decision API on http://127.0.0.1:{port} (OpenAPI at /docs); "
                "create a key with `creditdesk keys create --role onboarding`; Ctrl-C stops it"
            )
            _stage(10, total, "serve", ["serve", "--port", str(port)])


def _decide(raw: Path, feats: Path, scores: Path, out: Path) -> dict[str, Any]:
    from pipelines.decide_batch import decide_batch

    summary = decide_batch(raw, feats / "features.parquet", scores, out)
    book = summary["book"]
    outcomes = ", ".join(f"{k} {v:,}" for k, v in sorted(summary["outcomes"].items()))
    print(
        f"  {summary['decisions']:,} decisions ({outcomes}); approved book: "
        f"lines {book['credit_limit_minor'] / 100:,.0f}, EL {book['expected_loss_minor'] / 100:,.0f}, "
        f"EC {book['economic_capital_minor'] / 100:,.0f}, RAROC {book['raroc']:.1%} -> {out}"
    )
    return summary
