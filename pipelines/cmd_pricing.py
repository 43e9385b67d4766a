"""CLI commands of the `pricing` room: ``price`` (what-if pricing) and ``simulate`` (policy replay).

Both are thin: they parse, call ``pricing.decision`` and print. Bad input raises InputError
(exit 2, one line on stderr); with ``--json`` the last stdout line is one JSON object.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from creditdesk.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

    from pricing.policy import Policy

_SWAP_COLUMNS = ("application_id", "customer_id", "grade", "pd_12m", "lgd", "requested_line_minor")


def _plain(value: Any) -> Any:
    """JSON-ready scalar: numpy -> Python, NaN/inf -> None."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _fmt(value: Any, pct: bool = False) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value:.4%}" if pct else f"{value:,.6f}"


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


def _write_atomic(frame: pd.DataFrame, path: Path) -> None:
    """Write csv/parquet to a temp file in the same directory, then rename: never half-written."""
    suffix = path.suffix.lower()
    if suffix not in (".parquet", ".csv"):
        raise InputError(f"output file {path}: must end in .parquet or .csv", field="out")
    if not path.parent.is_dir():
        raise InputError(f"output file {path}: directory {path.parent} does not exist", field="out")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if suffix == ".parquet":
            frame.to_parquet(tmp, index=False)
        else:
            frame.to_csv(tmp, index=False)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _policy_label(policy: Policy) -> str:
    return f"{policy.name} v{policy.version} ({policy.policy_hash[:12]})"


def register(app: typer.Typer) -> None:
    """Add this room's commands to ``app``; commands import heavy libraries in their bodies."""

    @app.command("price")
    def price(
        pd_12m: Annotated[float, typer.Option("--pd", help="12-month probability of default, in (0, 1)")],
        lgd: Annotated[float, typer.Option("--lgd", help="loss given default, in [0, 1]")],
        ead: Annotated[
            float, typer.Option("--ead", help="exposure at default (EL and EC come out in its unit)")
        ],
        policy_file: Annotated[
            Path | None, typer.Option("--policy", help="policy YAML (default: the packaged policy)")
        ] = None,
        grade: Annotated[
            int | None, typer.Option("--grade", help="master-scale grade 1..11, to check acceptance too")
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="last stdout line is one JSON object")] = False,
    ) -> None:
        """What-if pricing: EL, correlation R, capital K, EC, risk-based rate, RAROC and outcome."""
        from pricing.decision import quote
        from pricing.policy import load_policy

        policy = load_policy(policy_file)
        q = quote(pd_12m, lgd, ead, policy, grade=grade)
        result: dict[str, Any] = {
            name: _plain(q[name][0])
            for name in (
                "expected_loss",
                "correlation",
                "capital_k",
                "economic_capital",
                "required_rate",
                "annual_rate",
                "raroc",
            )
        }
        result["rate_capped"] = bool(q["required_rate"][0] > policy.rates.rate_cap)
        result["outcome"] = str(q["outcome"][0])
        result["reasons"] = q["reasons"][0]
        result |= {"pd": pd_12m, "lgd": lgd, "ead": ead, "grade": grade}
        result |= {"policy_version": policy.version, "policy_hash": policy.policy_hash}
        rates = policy.rates
        lines = [
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
        typer.echo("\n".join(lines))
        if as_json:
            typer.echo(json.dumps(result, sort_keys=True))

    @app.command("simulate")
    def simulate(
        new_policy: Annotated[Path, typer.Option("--policy", help="the candidate policy YAML")],
        current_policy: Annotated[Path, typer.Option("--against", help="the policy in force (YAML)")],
        applications: Annotated[
            Path,
            typer.Option(
                "--applications",
                help="scored applications (.parquet or .csv) with the decide() input columns",
            ),
        ],
        out: Annotated[
            Path | None, typer.Option("--out", help="write the swap set here (.csv or .parquet)")
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="last stdout line is one JSON object")] = False,
    ) -> None:
        """Replay applications through two policies: swap set, approval rate, EL, EC, RAROC of each book."""
        from rich.console import Console
        from rich.progress import Progress

        from pricing.decision import DecisionInputs, decide
        from pricing.policy import load_policy
        from pricing.portfolio import portfolio_summary

        new = load_policy(new_policy)
        current = load_policy(current_policy)
        with Progress(console=Console(stderr=True), transient=True) as progress:
            task = progress.add_task("simulate", total=4)
            frame = _read_applications(applications)
            inputs = DecisionInputs.from_mapping(frame)
            progress.advance(task)
            decided_current = decide(inputs, current)
            progress.advance(task)
            decided_new = decide(inputs, new)
            progress.advance(task)
            summary_current = portfolio_summary(decided_current.to_frame())
            summary_new = portfolio_summary(decided_new.to_frame())
            progress.advance(task)

        import pandas as pd

        was, now = decided_current.outcome, decided_new.outcome
        approved_before, approved_after = was == "approve", now == "approve"
        swap_in = approved_after & ~approved_before
        swap_out = approved_before & ~approved_after
        crosstab = pd.crosstab(pd.Series(was, name="current"), pd.Series(now, name="new"))
        swap = {
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
        if out is not None:
            swapped = swap_in | swap_out
            rows = {c: frame[c].to_numpy()[swapped] for c in _SWAP_COLUMNS if c in frame.columns}
            rows |= {
                "swap": pd.Series(swap_in[swapped]).map({True: "in", False: "out"}).to_numpy(),
                "outcome_current": was[swapped],
                "outcome_new": now[swapped],
                "credit_limit_minor_current": decided_current.credit_limit_minor[swapped],
                "credit_limit_minor_new": decided_new.credit_limit_minor[swapped],
                "annual_rate_current": decided_current.annual_rate[swapped],
                "annual_rate_new": decided_new.annual_rate[swapped],
            }
            _write_atomic(pd.DataFrame(rows), out)
        books = {}
        for key, policy, summary in (("current", current, summary_current), ("new", new, summary_new)):
            books[key] = {"policy_version": policy.version, "policy_hash": policy.policy_hash}
            books[key] |= {k: _plain(v) for k, v in summary.book.items()}
            books[key]["by_grade"] = summary.to_dict()["by_grade"]

        lines = [f"applications       {len(frame):,} from {applications}"]
        header = f"{'':<26}{'current':>22}{'new':>22}"
        lines += [
            f"current policy     {_policy_label(current)}",
            f"new policy         {_policy_label(new)}",
            header,
        ]
        rows_spec = (
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
        for label, key, fmt in rows_spec:
            cells = [
                "n/a" if books[b].get(key) is None else fmt.format(books[b][key]) for b in ("current", "new")
            ]
            lines.append(f"{label:<26}{cells[0]:>22}{cells[1]:>22}")
        lines += [
            f"swap-in  (approved only by new)      {swap['swap_in']:,}",
            f"swap-out (approved only by current)  {swap['swap_out']:,}",
            f"approved by both {swap['approved_by_both']:,}, by neither {swap['approved_by_neither']:,}",
        ]
        if out is not None:
            lines.append(f"swap set written to {out}")
        typer.echo("\n".join(lines))
        if as_json:
            payload = {
                "applications": len(frame),
                "current": books["current"],
                "new": books["new"],
                "swap": swap,
            }
            typer.echo(json.dumps(payload, sort_keys=True))
