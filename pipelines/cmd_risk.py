"""CLI of the risk controls: ``creditdesk risk regime | anomalies | review …``.

Joined by ``pipelines.cli``; commands only decode, call ``pipelines.risk_jobs`` or
``margin.risk_store`` and print.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer

app = typer.Typer()
risk_app = typer.Typer(
    help="Dynamic risk controls: market regime, account anomalies, reviews.", no_args_is_help=True
)
review_app = typer.Typer(help="The anomaly review queue.", no_args_is_help=True)
risk_app.add_typer(review_app, name="review")
app.add_typer(risk_app, name="risk")

JSON_OPT = typer.Option(False, "--json", help="print the result as one JSON object on the last line")
POLICY_OPT = typer.Option(None, "--policy", help="risk-controls policy YAML (default: the packaged one)")


def _at_ns(at: str | None) -> int:
    from creditdesk.business_time import parse_at

    return parse_at(at, time.time_ns())


@risk_app.command("regime")
def regime_cmd(
    through: str = typer.Option(..., "--through", help="last close to take into account, YYYY-MM-DD"),
    start: str | None = typer.Option(None, "--from", help="first close whose events to record"),
    policy: Path | None = POLICY_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """Compute the market regime from prices and write the new risk events to the books."""
    from margin.storage import default_engine
    from pipelines.risk_jobs import record_regime

    result = record_regime(through, default_engine(), start=start, policy_path=policy)
    print(
        f"level at {result['through']}: {result['level']} "
        f"(index EWMA vol {result['index_ewma_vol_annual']:.0%})"
    )
    for ev in result["market_events"]:
        print(f"  {ev['effective']} {ev['change']}: {ev['why']}")
    print(f"{result['written']} risk event(s) written ({result['freeze_events']} buy-freeze changes)")
    if as_json:
        print(json.dumps(result))


@risk_app.command("anomalies")
def anomalies_cmd(
    activity: Path = typer.Option(..., "--activity", help="parquet of daily account activity"),
    at: str | None = typer.Option(None, "--at", help="business time of the flags (default now)"),
    policy: Path | None = POLICY_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """Score the last day of account activity; flagged accounts enter the review queue."""
    from margin.storage import default_engine
    from pipelines.risk_jobs import score_anomalies

    result = score_anomalies(activity, default_engine(), _at_ns(at), policy)
    print(
        f"{result['flagged']} of {result['accounts']} accounts flagged, "
        f"{result['reviews_opened']} new review(s)"
    )
    if as_json:
        print(json.dumps(result))


@review_app.command("list")
def review_list(as_json: bool = JSON_OPT) -> None:
    """Open reviews with their top signals."""
    from margin.risk_store import read_table, review_queue
    from margin.storage import default_engine

    rows = read_table(default_engine(), review_queue)
    open_ = rows[rows.status == "open"]
    for r in open_.itertuples():
        print(f"customer {r.customer_id}: score {r.score:.2f} — {r.reasons}")
    if as_json:
        print(json.dumps({"open": open_[["customer_id", "score", "reasons"]].to_dict("records")}))


@review_app.command("clear")
def review_clear(
    customer: int = typer.Option(..., "--customer"),
    analyst: str = typer.Option(..., "--analyst"),
    note: str = typer.Option("", "--note"),
    at: str | None = typer.Option(None, "--at", help="business time of the clearing (default now)"),
) -> None:
    """Clear a customer's open review: its leverage cut ends."""
    from margin.risk_store import clear_account
    from margin.storage import default_engine

    clear_account(default_engine(), customer, _at_ns(at), analyst, note)
    print(f"customer {customer}: review cleared by {analyst}")
