"""`creditdesk demo --no-serve` end to end, as a user runs it, in a private var/: the time-true
loop (train on the past, run the book through 2019-2020, retrain on the books, compare, report)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import REPO_ROOT, SHARED_DIR

CUSTOMERS = 10_000  # the smallest population whose pre-2019-07 history trains a graded PD


@pytest.mark.slow
@pytest.mark.e2e
def test_demo_trains_on_the_past_runs_the_book_retrains_and_reports(tmp_path: Path) -> None:
    var = tmp_path / "var"
    env = {
        **os.environ,
        "CREDITDESK_VAR_DIR": str(var),
        "CREDITDESK_SHARED_DIR": str(SHARED_DIR),
        "PYTHONPATH": str(REPO_ROOT),
    }
    for leaked in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):  # set by earlier in-process tests
        env.pop(leaked, None)
    env.pop("CREDITDESK_DB_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "demo", "--customers", str(CUSTOMERS), "--no-serve"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert "demo finished" in done.stdout
    for command in ("book dataset", "book run", "book compare", "book export", "report --reference"):
        assert f"$ creditdesk {command}" in done.stdout  # every stage prints its equivalent command
    demo = var / "demo"
    summary = json.loads((demo / "report" / "summary.json").read_text())
    check_book(summary["book"])
    check_vintages(summary["vintages"])
    check_provisions_and_review(summary, summary["book"])
    check_comparison(summary["champion_vs_challenger"], demo)
    check_decisions_and_report(demo, summary)
    check_registry_and_books(var, demo)


def check_book(book: dict) -> None:
    """The book decided real applications, approved and declined some, opened lines and lived."""
    decisions = book["decisions"]
    assert decisions.get("approve", 0) >= 10 and decisions.get("decline", 0) >= 1, (
        decisions
    )  # not all-decline
    assert book["totals"]["opened"] == sum(book["lines"].values()) == decisions["approve"]
    assert book["lines"].get("open", 0) > 0
    months = [m["month"] for m in book["by_month"]]
    assert months[0] == "2019-07" and months[-1] == "2020-12" and len(months) == 18
    risk = book["market_risk"]
    assert risk["positions_value_minor"] > 0 and 0 < risk["var99_minor"] < risk["positions_value_minor"]
    assert risk["backtest"]["observations"] == 250 and risk["backtest"]["zone"] in {"green", "yellow", "red"}
    assert [s["scenario"] for s in risk["stress"]] == ["mild", "severe", "crash"]


def check_vintages(vintages: dict) -> None:
    """One cohort per month with applications (2019-07 .. 2020-04), cumulative default rates by
    months on book: observed as long as the cohort's age, never decreasing, within [0, 1]."""
    assert sorted(vintages)[0] == "2019-07" and len(vintages) >= 8, sorted(vintages)
    for cohort, rates in vintages.items():
        age = (2020 - int(cohort[:4])) * 12 + 12 - int(cohort[5:])  # whole months to 2020-12-31
        assert len(rates) == age, (cohort, len(rates))
        assert all(0.0 <= r <= 1.0 for r in rates) and np.all(np.diff(rates) >= 0), (cohort, rates)


def check_provisions_and_review(summary: dict, book: dict) -> None:
    stages = {s["stage"]: s for s in summary["provisions"]["by_stage"]}
    assert set(stages) == {1, 2, 3} and summary["provisions"]["month_end"] == 20201231
    live = book["lines"].get("open", 0) + book["lines"].get("collection", 0)
    assert sum(s["lines"] for s in stages.values()) == live
    assert stages[1]["lines"] > 0 and 0 < stages[1]["ecl_minor"] < stages[1]["ead_minor"]
    review = summary["line_review"]
    assert review["month_end"] == 20201231 and sum(review["actions"].values()) == live
    matured = summary["matured_performance"]
    assert matured["matured_lines"] > 0  # lines opened 2019-07 .. 2019-12, observed 12 months
    assert 0 < matured["mean_pd"] < 1 and matured["defaults"] <= matured["matured_lines"]


def check_comparison(cmp: dict, demo: Path) -> None:
    """Both models scored on the same later applications (2020, after the challenger's data)."""
    assert cmp["applications_from"] == "2020-01-01" and cmp["applications"] > 100
    assert 0 < cmp["defaults"] < cmp["applications"]
    for model in ("champion", "challenger"):
        assert 0.5 < cmp[model]["auc"] <= 1.0 and 0 < cmp[model]["brier"] < 0.25, cmp
    data = pd.read_parquet(demo / "challenger_data" / "labels.parquet")
    history = pd.read_parquet(demo / "history" / "labels.parquet")
    assert len(data) > len(history)  # the challenger learnt from the books as well


def check_decisions_and_report(demo: Path, summary: dict) -> None:
    decisions = pd.read_parquet(demo / "current" / "decisions.parquet")
    assert len(decisions) == sum(summary["book"]["decisions"].values())
    dates = pd.to_datetime(pd.read_parquet(demo / "current" / "features.parquet")["application_date"])
    assert dates.min() >= pd.Timestamp("2019-07-01") and dates.max() < pd.Timestamp("2021-01-01")
    assert (decisions.loc[decisions["outcome"] == "approve", "credit_limit_minor"] > 0).all()
    figures = summary["portfolio"]["figures"]
    assert figures["approval rate"] == pytest.approx((decisions["outcome"] == "approve").mean())
    lights = {alert["light"] for alert in summary["alerts"]}
    worst = "red" if "red" in lights else "amber" if "amber" in lights else "green"
    assert summary["overall"] == worst
    page = (demo / "report" / "index.html").read_text()
    for section in ("vintages", "book", "market-risk", "provisions", "line-review", "champion-challenger"):
        assert f'<section id="{section}">' in page


def check_registry_and_books(var: Path, demo: Path) -> None:
    from mlflow import MlflowClient

    from ledger.storage import make_engine
    from margin.eod import reconcile_books

    uri = f"sqlite:///{var / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    for name in ("creditdesk-pd", "creditdesk-lgd", "creditdesk-ead"):
        assert str(client.get_model_version_by_alias(name, "champion").version) == "1"
        assert str(client.get_model_version_by_alias(name, "challenger").version) == "2"
    engine = make_engine(f"sqlite:///{demo / 'book.db'}")
    try:
        report = reconcile_books(engine, day=pd.Timestamp("2020-12-31").date())
    finally:
        engine.dispose()
    assert report.ok, report.breaks[:3]  # the book's ledger is clean at its last day
