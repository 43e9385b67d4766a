"""CLI of the `pricing` room: ``price`` (what-if), ``decide`` (a scored batch) and ``simulate``.

All thin: they parse, call ``pricing.decision`` (or the batch job) and print. Bad input
raises InputError (exit 2, one line on stderr); with ``--json`` the last stdout line is one
JSON object.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from creditdesk.errors import InputError
from creditdesk.jsonsafe import json_safe

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from pricing.decision import DecisionBatch
    from pricing.policy import Policy

app = typer.Typer()

_SWAP_COLUMNS = ("application_id", "customer_id", "grade", "pd_12m", "lgd", "requested_line_minor")
_QUOTE_FIELDS = (
    "expected_loss",
    "correlation",
    "capital_k",
    "economic_capital",
    "required_rate",
    "annual_rate",
    "raroc",
)
AsJson = Annotated[bool, typer.Option("--json", help="last stdout line is one JSON object")]
PolicyFile = Annotated[
    Path | None, typer.Option("--policy", help="policy YAML (default: the packaged policy)")
]


def _fmt(value: Any, pct: bool = False) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value:.4%}" if pct else f"{value:,.6f}"


def _policy_label(policy: Policy) -> str:
    return f"{policy.name} v{policy.version} ({policy.policy_hash[:12]})"


@app.command("price")
def price(
    pd_12m: Annotated[float, typer.Option("--pd", help="12-month probability of default, in (0, 1)")],
    lgd: Annotated[float, typer.Option("--lgd", help="loss given default, in [0, 1]")],
    ead: Annotated[float, typer.Option("--ead", help="exposure at default (EL and EC come out in its unit)")],
    policy_file: PolicyFile = None,
    grade: Annotated[
        int | None, typer.Option("--grade", help="master-scale grade 1..11, to check acceptance too")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """What-if pricing: EL, correlation R, capital K, EC, risk-based rate, RAROC and outcome."""
    from pricing.decision import quote
    from pricing.policy import load_policy

    policy = load_policy(policy_file)
    q = quote(pd_12m, lgd, ead, policy, grade=grade)
    result: dict[str, Any] = {name: json_safe(q[name][0]) for name in _QUOTE_FIELDS}
    result["rate_capped"] = bool(q["required_rate"][0] > policy.rates.rate_cap)
    result["outcome"] = str(q["outcome"][0])
    result["reasons"] = q["reasons"][0]
    result |= {"pd": pd_12m, "lgd": lgd, "ead": ead, "grade": grade}
    result |= {"policy_version": policy.version, "policy_hash": policy.policy_hash}
    typer.echo("\n".join(_quote_lines(result, policy)))
    if as_json:
        typer.echo(json.dumps(result, sort_keys=True))


def _quote_lines(result: dict[str, Any], policy: Policy) -> list[str]:
    rates = policy.rates
    return [
        f"policy             {_policy_label(policy)}, capital formula {policy.capital.formula}",
        f"expected loss      {_fmt(result['expected_loss'])}   (PD x LGD x EAD)",
        f"correlation R      {_fmt(result['correlation'])}",
        f"capital K          {_fmt(result['capital_k'])}   per unit of EAD",
        f"economic capital   {_fmt(result['economic_capital'])}   (K x EAD)",
        f"required rate      {_fmt(result['required_rate'], pct=True)}   "
        f"(funding {rates.funding_rate:.2%} + opex {rates.opex_rate:.2%} + PD x LGD "
        f"+ hurdle {rates.hurdle_raroc:.0%} x K)",
        f"annual rate        {_fmt(result['annual_rate'], pct=True)}   "
        f"(floor {rates.rate_floor:.2%}, cap {rates.rate_cap:.2%})",
        f"RAROC              {_fmt(result['raroc'], pct=True)}",
        f"outcome            {result['outcome']}"
        + (f"   ({', '.join(result['reasons'])})" if result["reasons"] else ""),
    ]


@app.command("decide")
def decide(
    raw: Annotated[Path, typer.Option("--raw", help="the applicants' raw population folder (KYC, bureau)")],
    features: Annotated[
        Path, typer.Option("--features", help="their features.parquet (creditdesk features)")
    ],
    scores: Annotated[Path, typer.Option("--scores", help="their scores (creditdesk score --output)")],
    out: Annotated[
        Path, typer.Option("--out", help="decisions .parquet (also a simulate --applications file)")
    ],
    policy_file: PolicyFile = None,
    as_json: AsJson = False,
) -> None:
    """Price and decide a scored batch with the same decide() the API runs; write the decisions."""
    summary = run_decide(raw, features, scores, out, policy_file)
    echo_decisions(summary, out)
    if as_json:
        typer.echo(json.dumps(json_safe(summary), sort_keys=True))


def run_decide(
    raw: Path, features: Path, scores: Path, out: Path, policy_file: Path | None = None
) -> dict[str, Any]:
    """The batch-decision job (``pipelines.decide_batch``)."""
    from pipelines.decide_batch import decide_batch

    if out.suffix != ".parquet":
        raise InputError(f"--out must end in .parquet, got {out.name}", field="out")
    return decide_batch(raw, features, scores, out, policy_file)


def echo_decisions(summary: dict[str, Any], out: Path) -> None:
    book = summary["book"]
    outcomes = ", ".join(f"{k} {v:,}" for k, v in sorted(summary["outcomes"].items()))
    raroc = "n/a" if book.get("raroc") is None else f"{book['raroc']:.1%}"  # no approved book: no RAROC
    print(
        f"  {summary['decisions']:,} decisions ({outcomes}); approved book: "
        f"lines {book['credit_limit_minor'] / 100:,.0f}, EL {book['expected_loss_minor'] / 100:,.0f}, "
        f"EC {book['economic_capital_minor'] / 100:,.0f}, RAROC {raroc} -> {out}"
    )


@app.command("simulate")
def simulate(
    new_policy: Annotated[Path, typer.Option("--policy", help="the candidate policy YAML")],
    current_policy: Annotated[Path, typer.Option("--against", help="the policy in force (YAML)")],
    applications: Annotated[
        Path,
        typer.Option(
            "--applications", help="scored applications (.parquet or .csv) with the decide() input columns"
        ),
    ],
    out: Annotated[
        Path | None, typer.Option("--out", help="write the swap set here (.csv or .parquet)")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Replay applications through two policies: swap set, approval rate, EL, EC, RAROC of each book."""
    from pricing.policy import load_policy

    new, current = load_policy(new_policy), load_policy(current_policy)
    frame = _read_applications(applications)
    decided_current, decided_new, books = _replay(frame, current, new)
    swap = _swap_summary(decided_current, decided_new)
    if out is not None:
        _write_table(_swap_frame(frame, decided_current, decided_new), out)
    lines = [
        f"applications       {len(frame):,} from {applications}",
        f"current policy     {_policy_label(current)}",
        f"new policy         {_policy_label(new)}",
        *_book_lines(books, swap),
    ]
    if out is not None:
        lines.append(f"swap set written to {out}")
    typer.echo("\n".join(lines))
    if as_json:
        payload = {"applications": len(frame), "current": books["current"], "new": books["new"], "swap": swap}
        typer.echo(json.dumps(payload, sort_keys=True))


def _replay(
    frame: pd.DataFrame, current: Policy, new: Policy
) -> tuple[DecisionBatch, DecisionBatch, dict[str, dict[str, Any]]]:
    """Decide the same applications under both policies; each book's portfolio view."""
    from rich.console import Console
    from rich.progress import Progress

    from pricing.decision import DecisionInputs
    from pricing.decision import decide as decide_inputs
    from pricing.portfolio import portfolio_summary

    with Progress(console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("simulate", total=3)
        inputs = DecisionInputs.from_mapping(frame)
        decided = {}
        for key, policy in (("current", current), ("new", new)):
            decided[key] = decide_inputs(inputs, policy)
            progress.advance(task)
        books = {}
        for key, policy in (("current", current), ("new", new)):
            summary = portfolio_summary(decided[key].to_frame())
            books[key] = {"policy_version": policy.version, "policy_hash": policy.policy_hash}
            books[key] |= json_safe(summary.book)
            books[key]["by_grade"] = summary.to_dict()["by_grade"]
        progress.advance(task)
    return decided["current"], decided["new"], books


def _swaps(decided_current: DecisionBatch, decided_new: DecisionBatch) -> tuple[np.ndarray, np.ndarray]:
    approved_before, approved_after = decided_current.outcome == "approve", decided_new.outcome == "approve"
    return approved_after & ~approved_before, approved_before & ~approved_after


def _swap_summary(decided_current: DecisionBatch, decided_new: DecisionBatch) -> dict[str, Any]:
    import pandas as pd

    was, now = decided_current.outcome, decided_new.outcome
    approved_before, approved_after = was == "approve", now == "approve"
    swap_in, swap_out = _swaps(decided_current, decided_new)
    crosstab = pd.crosstab(pd.Series(was, name="current"), pd.Series(now, name="new"))
    return {
        "swap_in": int(swap_in.sum()),
        "swap_out": int(swap_out.sum()),
        "approved_by_both": int((approved_before & approved_after).sum()),
        "approved_by_neither": int((~approved_before & ~approved_after).sum()),
        "swap_in_expected_loss_minor": float(decided_new.expected_loss_minor[swap_in].sum()),
        "swap_out_expected_loss_minor": float(decided_current.expected_loss_minor[swap_out].sum()),
        "outcomes_current_by_new": {
            str(r): {str(c): int(crosstab.loc[r, c]) for c in crosstab.columns} for r in crosstab.index
        },
    }


def _swap_frame(
    frame: pd.DataFrame, decided_current: DecisionBatch, decided_new: DecisionBatch
) -> pd.DataFrame:
    """One row per swapped application: its key inputs and both policies' outcome, line and rate."""
    import pandas as pd

    swap_in, swap_out = _swaps(decided_current, decided_new)
    swapped = swap_in | swap_out
    rows = {c: frame[c].to_numpy()[swapped] for c in _SWAP_COLUMNS if c in frame.columns}
    rows |= {
        "swap": pd.Series(swap_in[swapped]).map({True: "in", False: "out"}).to_numpy(),
        "outcome_current": decided_current.outcome[swapped],
        "outcome_new": decided_new.outcome[swapped],
        "credit_limit_minor_current": decided_current.credit_limit_minor[swapped],
        "credit_limit_minor_new": decided_new.credit_limit_minor[swapped],
        "annual_rate_current": decided_current.annual_rate[swapped],
        "annual_rate_new": decided_new.annual_rate[swapped],
    }
    return pd.DataFrame(rows)


_BOOK_ROWS = (
    ("approved", "n_approve", "{:,}"),
    ("referred", "n_refer", "{:,}"),
    ("declined", "n_decline", "{:,}"),
    ("approval rate", "approval_rate", "{:.2%}"),
    ("credit lines (minor)", "credit_limit_minor", "{:,.0f}"),
    ("EAD (minor)", "ead_minor", "{:,.0f}"),
    ("expected loss (minor)", "expected_loss_minor", "{:,.0f}"),
    ("economic capital (minor)", "economic_capital_minor", "{:,.0f}"),
    ("interest (minor/yr)", "expected_interest_minor", "{:,.0f}"),
    ("net income (minor/yr)", "expected_net_income_minor", "{:,.0f}"),
    ("RAROC of the book", "raroc", "{:.2%}"),
)


def _book_lines(books: dict[str, dict[str, Any]], swap: dict[str, Any]) -> list[str]:
    lines = [f"{'':<26}{'current':>22}{'new':>22}"]
    for label, key, fmt in _BOOK_ROWS:
        cells = [
            "n/a" if books[b].get(key) is None else fmt.format(books[b][key]) for b in ("current", "new")
        ]
        lines.append(f"{label:<26}{cells[0]:>22}{cells[1]:>22}")
    return [
        *lines,
        f"swap-in  (approved only by new)      {swap['swap_in']:,}",
        f"swap-out (approved only by current)  {swap['swap_out']:,}",
        f"approved by both {swap['approved_by_both']:,}, by neither {swap['approved_by_neither']:,}",
    ]


def _read_applications(path: Path) -> pd.DataFrame:
    import pandas as pd

    suffix = path.suffix.lower()
    if suffix not in (".parquet", ".csv"):
        raise InputError(f"applications file {path}: must end in .parquet or .csv", field="applications")
    if not path.is_file():
        raise InputError(f"applications file {path}: does not exist", field="applications")
    try:
        frame = pd.read_parquet(path) if suffix == ".parquet" else pd.read_csv(path)
    except Exception as exc:  # any reader failure is a bad file, reported in one line
        reason = " ".join(str(exc).split())[:200]
        raise InputError(
            f"applications file {path}: cannot be read ({reason})", field="applications"
        ) from None
    if frame.empty:
        raise InputError(f"applications file {path}: has no rows", field="applications")
    return frame


def _write_table(frame: pd.DataFrame, path: Path) -> None:
    """csv or parquet by suffix, atomically (``creditdesk.atomic``): never half-written."""
    from creditdesk.atomic import write_atomic

    suffix = path.suffix.lower()
    if suffix not in (".parquet", ".csv"):
        raise InputError(f"output file {path}: must end in .parquet or .csv", field="out")
    if not path.parent.is_dir():
        raise InputError(f"output file {path}: directory {path.parent} does not exist", field="out")
    if suffix == ".parquet":
        write_atomic(path, lambda tmp: frame.to_parquet(tmp, index=False))
    else:
        write_atomic(path, lambda tmp: frame.to_csv(tmp, index=False))
