"""CLI of the ledger and margin rooms: ``creditdesk ledger …`` and ``creditdesk stress``.

Every ledger subcommand takes ``--at`` (business time, default now), e.g.
``creditdesk ledger deposit --customer 5 --amount 100 --op d1 --at 2026-02-13``: an operation
dated before its facility opened is refused naming ``at``. The service database is
``CREDITDESK_DB_URL`` (default ``var/ledger.db``), migrated on first use. Refused operations
(a transfer past a limit, a withdrawal over the rule) exit 2 with the result code on one
line of stderr, as bad input does; ``ledger eod`` exits 1 when the books have a break.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sys
import time
from pathlib import Path
from typing import Any

import typer

from creditdesk.errors import InputError

JSON_OPT = typer.Option(False, "--json", help="print the result as one JSON object on the last line")


def _emit(payload: dict[str, Any], as_json: bool, text: str) -> None:
    print(text)
    if as_json:
        print(json.dumps(payload, default=str))


def _engine() -> Any:
    from margin.storage import default_engine

    return default_engine()


class BusinessClock:
    """The desk's clock for one CLI run: the ``--at`` business time (strictly increasing by
    1 ns a reading, so operations of one run keep their order), or the wall clock."""

    def __init__(self) -> None:
        self.at_ns: int | None = None

    def __call__(self) -> int:
        if self.at_ns is None:
            return time.time_ns()
        self.at_ns += 1
        return self.at_ns


CLOCK = BusinessClock()


def _desk() -> Any:
    from margin.service import MarginDesk

    return MarginDesk(_engine(), CLOCK)


def _number(text: str | None, field: str) -> float | None:
    if text is None:
        return None
    try:
        return float(text)
    except ValueError as exc:
        raise InputError(f"--{field.replace('_', '-')} must be a number, got {text!r}", field=field) from exc


def _parse_day(day: str | None, option: str = "--day") -> dt.date:
    if day is None:
        if CLOCK.at_ns is not None:  # the business day of --at
            from creditdesk.business_time import business_day

            return business_day(CLOCK.at_ns)
        return dt.date.today()
    try:
        return dt.date.fromisoformat(day)
    except ValueError as exc:
        raise InputError(f"{option} must be YYYY-MM-DD, got {day!r}", field=option.lstrip("-")) from exc


def _op_result(result: Any, as_json: bool) -> None:
    payload = {"op_id": result.op_id, "ok": result.ok, "reason": result.reason, **result.details}
    if not result.ok:
        raise InputError(f"operation {result.op_id} refused: {result.reason} {result.details or ''}".strip())
    _emit(payload, as_json, f"{result.op_id}: ok {result.details}")


app = typer.Typer()
ledger_app = typer.Typer(
    help="Double-entry ledger and margin facilities: accounts, transfers, interest, end of day.",
    no_args_is_help=True,
)
app.add_typer(ledger_app, name="ledger")

AT_OPT = typer.Option(
    None,
    "--at",
    help="business time of the command: YYYY-MM-DD (exchange midnight) or an ISO date-time with offset; "
    "default now. E.g. creditdesk ledger deposit … --at 2026-02-13T10:00+08:00",
)


def _at(at: str | None) -> None:
    """Time is an input: the command runs at ``--at`` (every subcommand takes it), else now."""
    from creditdesk.business_time import parse_at

    CLOCK.at_ns = None if at is None else parse_at(at, time.time_ns())


def _ledger() -> Any:
    """The raw ledger on the run's business clock (``--at`` stamps its transfers too)."""
    from ledger.service import Ledger

    return Ledger(_engine(), clock=CLOCK)


@ledger_app.command("init")
def init() -> None:
    """Create or upgrade the service database schema (Alembic, idempotent)."""
    engine = _engine()
    print(f"schema up to date: {engine.url.render_as_string(hide_password=True)}")


@ledger_app.command("open")
def open_facility(
    decision: str = typer.Option(..., "--decision", help="id of the approved credit decision"),
    regime_name: str | None = typer.Option(
        None, "--regime", help="margin regime: cn or us (default: the decision's)"
    ),
    currency: str | None = typer.Option(
        None, "--currency", help="CNY or USD (default: the decision's; another one is refused)"
    ),
    at: str | None = AT_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """Open the margin facility of an approved decision: line, rate and leverage come from it.

    Refused (exit 2, reason code on stderr, nothing written) for an unknown, declined or
    already used decision, or a regime or currency other than the decision's policy's; the
    same decision again is a no-op. ``--at`` is the opening time: later operations dated
    before it are refused.
    """
    from ledger.journal import DecisionJournal
    from margin.opening import open_from_decision

    _at(at)
    desk = _desk()
    outcome = open_from_decision(desk, DecisionJournal(desk.engine).get, decision, regime_name, currency)
    fac = outcome.facility
    payload = {**fac.__dict__, "created": outcome.created}
    verb = "opened" if outcome.created else "already open"
    _emit(payload, as_json, f"facility {verb} for customer {fac.customer_id}: line {fac.line_minor}")


@ledger_app.command("instrument")
def instrument(
    instrument_id: int = typer.Option(..., "--id", help="instrument id (1..999999)"),
    symbol: str = typer.Option(..., "--symbol"),
    kind: str = typer.Option(
        "share",
        "--kind",
        help="share, etf, government_bond, money_market_fund, cash_management, bond, fund, warrant "
        "(legacy: index_constituent, flagged)",
    ),
    price: int = typer.Option(..., "--price", help="price per share in minor units"),
    adv: int = typer.Option(1_000_000, "--adv", help="average daily volume, shares"),
    vol_bps: int = typer.Option(200, "--vol-bps", help="daily volatility in basis points"),
    board: str | None = typer.Option(None, "--board", help="main, chinext, star or st"),
    static_pe: str | None = typer.Option(None, "--static-pe", help="static P/E (negative: loss-making)"),
    index_member: bool | None = typer.Option(None, "--index/--no-index", help="index constituent"),
    financing: bool | None = typer.Option(
        None, "--financing/--no-financing", help="eligible for financed purchase (融资买入标的)"
    ),
    collateral: bool | None = typer.Option(
        None, "--collateral/--no-collateral", help="eligible as collateral"
    ),
    at: str | None = AT_OPT,
) -> None:
    """Register or update an instrument of the margin instrument master (its price is as of
    ``--at``); the conversion rate and financed-purchase eligibility follow the exchange rule
    table (margin/instruments.py)."""
    master = {
        "board": board,
        "static_pe": _number(static_pe, "static_pe"),
        "index_constituent": index_member,
        "eligible_for_financing": financing,
        "eligible_as_collateral": collateral,
    }
    _at(at)
    _desk().upsert_instrument(
        instrument_id, symbol, kind, price, adv, vol_bps, **{k: v for k, v in master.items() if v is not None}
    )
    print(f"instrument {instrument_id} {symbol}: {kind} at {price}")


CUSTOMER_OPT = typer.Option(..., "--customer")
AMOUNT_OPT = typer.Option(..., "--amount", help="minor units")
OP_OPT = typer.Option(..., "--op", help="operation id (retries with the same id are no-ops)")
INSTRUMENT_OPT = typer.Option(..., "--instrument")
QUANTITY_OPT = typer.Option(..., "--quantity")
PRICE_OPT = typer.Option(..., "--price", help="minor units per share")
FEE_OPT = typer.Option(0, "--fee")


def _operation(
    at: str | None, as_json: bool, run: Any, guard: contextlib.AbstractContextManager[Any] | None = None
) -> None:
    """One desk operation of a command: at its ``--at`` business time, inside ``guard`` (entered
    after ``--at`` is read, e.g. a maker-checker approval), a refusal mapped to exit 2
    (``_op_result``), so every operation command sets the clock and reports alike."""
    _at(at)
    with guard if guard is not None else contextlib.nullcontext():
        _op_result(run(_desk()), as_json)


def _cash_command(name: str, method: str, doc: str) -> None:
    """Register a cash command (deposit, withdraw): the same options, one desk method."""

    def command(
        customer: int = CUSTOMER_OPT,
        amount: int = AMOUNT_OPT,
        op: str = OP_OPT,
        at: str | None = AT_OPT,
        as_json: bool = JSON_OPT,
    ) -> None:
        _operation(at, as_json, lambda desk: getattr(desk, method)(customer, op, amount))

    command.__name__ = command.__qualname__ = name
    command.__doc__ = doc
    ledger_app.command(name)(command)


_cash_command("deposit", "deposit", "Cash in to the customer's account.")
_cash_command("withdraw", "withdraw", "Cash out, within the regime's withdrawal rule.")


@ledger_app.command("buy")
def buy(
    customer: int = CUSTOMER_OPT,
    instrument_id: int = INSTRUMENT_OPT,
    quantity: int = QUANTITY_OPT,
    price: int = PRICE_OPT,
    fee: int = FEE_OPT,
    op: str = OP_OPT,
    at: str | None = AT_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """Buy on margin (line use, loan draw, cash, fee, shares: one linked chain)."""
    _operation(at, as_json, lambda desk: desk.buy(customer, op, instrument_id, quantity, price, fee))


@ledger_app.command("sell")
def sell(
    customer: int = CUSTOMER_OPT,
    instrument_id: int = INSTRUMENT_OPT,
    quantity: int = QUANTITY_OPT,
    price: int = PRICE_OPT,
    fee: int = FEE_OPT,
    op: str = OP_OPT,
    liquidation: bool = typer.Option(False, "--liquidation", help="a forced sale (needs --approval)"),
    approval: str | None = typer.Option(
        None,
        help="--liquidation: an approved manual_liquidation request for this customer, instrument "
        "and quantity (maker-checker, `creditdesk approvals`)",
    ),
    at: str | None = AT_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """Sell; proceeds repay interest and the loan first. A manual liquidation runs only under
    a request approved by a second key (h16: maker-checker)."""

    guard = None
    if liquidation:
        from pipelines.cmd_serving import consume_approval

        subject = {"customer": customer, "instrument": instrument_id, "quantity": quantity}
        guard = consume_approval(approval, "manual_liquidation", subject, "--approval")
    sale = (customer, op, instrument_id, quantity, price, fee, liquidation)
    _operation(at, as_json, lambda desk: desk.sell(*sale), guard)


@ledger_app.command("transfer")
def transfer(
    transfer_id: int = typer.Option(..., "--id", help="client transfer id (idempotency key)"),
    debit: int = typer.Option(0, "--debit"),
    credit: int = typer.Option(0, "--credit"),
    amount: int = typer.Option(..., "--amount", help="minor units"),
    ledger: int = typer.Option(0, "--ledger"),
    code: int = typer.Option(99, "--code"),
    pending: bool = typer.Option(False, "--pending", help="reserve (two-phase)"),
    post: int = typer.Option(0, "--post", help="post this pending transfer id"),
    void: int = typer.Option(0, "--void", help="void this pending transfer id"),
    timeout_s: int = typer.Option(0, "--timeout", help="seconds before a pending transfer expires"),
    at: str | None = AT_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """Post one raw ledger transfer (operations use only), stamped at ``--at``."""
    from ledger.domain import Transfer, TransferFlags

    if sum(bool(x) for x in (pending, post, void)) > 1:
        raise InputError("--pending, --post and --void are mutually exclusive")
    flags = TransferFlags.PENDING if pending else TransferFlags.NONE
    if post:
        flags = TransferFlags.POST_PENDING_TRANSFER
    if void:
        flags = TransferFlags.VOID_PENDING_TRANSFER
    _at(at)
    t = Transfer(transfer_id, debit, credit, amount, ledger, code, int(flags), post or void, timeout_s)
    result = _ledger().create_transfers([t])[0]
    if result.value not in ("ok", "exists"):
        raise InputError(f"transfer {transfer_id} refused: {result.value}", field="transfer")
    _emit({"id": transfer_id, "result": result.value}, as_json, f"transfer {transfer_id}: {result.value}")


def _read_batch(file: Path) -> list[Any]:
    """Transfers from a JSON-lines file, one object per line with integer fields of Transfer."""
    from ledger.domain import MAX_BATCH, Transfer

    if not file.exists():
        raise InputError(f"{file}: file not found")
    fields = set(Transfer.__dataclass_fields__) - {"timestamp_ns"}
    transfers = []
    for n, line in enumerate(file.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            unknown = set(obj) - fields
            if unknown:
                raise InputError(f"{file}:{n}: unknown field {sorted(unknown)[0]!r}")
            if not all(isinstance(v, int) and not isinstance(v, bool) for v in obj.values()):
                raise InputError(f"{file}:{n}: every field must be an integer")
            transfers.append(Transfer(**obj))
        except (json.JSONDecodeError, TypeError) as exc:
            raise InputError(f"{file}:{n}: not a transfer object: {exc}") from exc
    if not 0 < len(transfers) <= MAX_BATCH:
        raise InputError(f"{file}: a batch holds 1 to {MAX_BATCH} transfers, got {len(transfers)}")
    return transfers


@ledger_app.command("batch")
def batch(
    file: Path = typer.Argument(..., help="JSON lines, one transfer object per line (fields of Transfer)"),
    at: str | None = AT_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """Post a batch of transfers (≤ 8190; linked chains via flags); prints one result per transfer."""
    transfers = _read_batch(file)
    _at(at)
    results = _ledger().create_transfers(transfers)
    counts: dict[str, int] = {}
    for r in results:
        counts[r.value] = counts.get(r.value, 0) + 1
    for t, r in zip(transfers, results, strict=True):
        if r.value not in ("ok", "exists"):
            print(f"{t.id}\t{r.value}")
    _emit({"results": [r.value for r in results], "counts": counts}, as_json, f"results: {counts}")
    refused = len(transfers) - counts.get("ok", 0) - counts.get("exists", 0)
    if refused:
        print(f"creditdesk: error: {refused} transfers refused", file=sys.stderr)
        raise typer.Exit(2)


@ledger_app.command("accounts")
def accounts(
    ids: list[int] = typer.Argument(..., help="account ids"),
    at: str | None = AT_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """Show balances of accounts (as posted; ``--at`` is accepted like every ledger command)."""
    _at(at)
    found = _ledger().lookup_accounts(ids)
    rows = [
        {
            "id": a.id,
            "ledger": a.ledger,
            "code": a.code,
            "debits_posted": a.debits_posted,
            "credits_posted": a.credits_posted,
            "debits_pending": a.debits_pending,
            "credits_pending": a.credits_pending,
            "balance_minor": a.balance_minor,
        }
        for a in found
    ]
    text = "\n".join(
        f"{r['id']}\tledger {r['ledger']}\tcode {r['code']}\tbalance {r['balance_minor']}" for r in rows
    )
    _emit({"accounts": rows}, as_json, text or "no such accounts")


@ledger_app.command("margin")
def margin(customer: int = CUSTOMER_OPT, at: str | None = AT_OPT, as_json: bool = JSON_OPT) -> None:
    """The customer's margin position at the last prices."""
    _at(at)
    view = _desk().margin(customer)
    _emit(view.__dict__, as_json, f"customer {customer}: ratio {view.ratio:.4f} status {view.status}")


@ledger_app.command("mark")
def mark(
    prices: list[str] = typer.Argument(..., help="INSTRUMENT_ID=PRICE_MINOR ..."),
    at: str | None = AT_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """Mark to market at ``--at``: new prices → statuses, calls issued and met (deadlines in
    trading days from the business day of ``--at``), accounts to liquidate."""
    parsed: dict[int, int] = {}
    for item in prices:
        key, sep, value = item.partition("=")
        if not sep or not key.isdigit() or not value.isdigit():
            raise InputError(f"price {item!r} must look like INSTRUMENT_ID=PRICE_MINOR")
        parsed[int(key)] = int(value)
    _at(at)
    res = _desk().mark_to_market(parsed)
    _emit(
        res.__dict__,
        as_json,
        f"evaluated {res.evaluated}: calls issued {len(res.calls_issued)}, "
        f"met {len(res.calls_met)}, to liquidate {len(res.to_liquidate)}",
    )


@ledger_app.command("accrue")
def accrue(
    day: str | None = typer.Option(
        None, "--day", help="one day YYYY-MM-DD (default: the day of --at, or today)"
    ),
    through: str | None = typer.Option(
        None, "--through", help="every calendar day since each loan's last accrual through YYYY-MM-DD"
    ),
    at: str | None = AT_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """Accrue interest on every open loan, ACT/360 (idempotent per loan and day)."""
    _at(at)
    if through is not None:
        t = _parse_day(through, "--through")
        posted = _desk().accrue_through(t)
        _emit(
            {"through": t.isoformat(), "posted": posted}, as_json, f"interest accrued through {t}: {posted}"
        )
        return
    d = _parse_day(day)
    posted = _desk().accrue_interest(d)
    _emit({"day": d.isoformat(), "posted": posted}, as_json, f"interest accrued for {d}: {posted} loans")


@ledger_app.command("eod")
def eod(
    day: str | None = typer.Option(
        None, "--day", help="business day YYYY-MM-DD (default: the day of --at, or today)"
    ),
    accrue_first: bool = typer.Option(True, "--accrue/--no-accrue", help="accrue the day's interest first"),
    at: str | None = AT_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """End of day: trial balance, replay equality, limits, interest once; exit 1 on any break."""
    from margin.eod import reconcile_books

    _at(at)
    d = _parse_day(day)
    desk = _desk()
    if accrue_first:
        desk.accrue_through(d)  # weekends and holidays since the last accrual too
        desk.accrue_interest(d)
    report = reconcile_books(desk.engine, d)
    print(
        f"end of day {d}: {report.accounts_checked} accounts, {report.transfers_replayed} transfers replayed"
    )
    for row in report.trial_balance:
        mark_ = "ok" if row.debits_posted == row.credits_posted else "BREAK"
        print(
            f"  ledger {row.ledger:>8}  debits {row.debits_posted:>16,}  "
            f"credits {row.credits_posted:>16,}  {mark_}"
        )
    for b in report.breaks[:50]:
        print(f"  BREAK {b.kind} {b.subject}: {b.detail}")
    print("books balance" if report.ok else f"{len(report.breaks)} breaks")
    if as_json:
        print(json.dumps(report.to_dict()))
    if not report.ok:
        raise typer.Exit(1)


@app.command("stress")
def stress_cmd(
    start: str = typer.Option(..., "--from", help="first day YYYY-MM-DD"),
    end: str = typer.Option(..., "--to", help="last day YYYY-MM-DD"),
    accounts_n: int = typer.Option(2_000, "--accounts", help="accounts in the synthetic book"),
    regime_name: str = typer.Option("cn", "--regime", help="cn or us"),
    seed: int = typer.Option(7, "--seed"),
    topup: float = typer.Option(0.5, "--topup-probability", help="share of called customers who top up"),
    participation: float = typer.Option(
        0.10, "--participation", help="share of a name's day volume the whole book may sell, (0, 1]"
    ),
    schedule: str = typer.Option("vwap", "--schedule", help="twap | vwap | pov | immediate at a missed call"),
    out: Path | None = typer.Option(None, "--out", help="directory for the report (default var/stress)"),
    as_json: bool = JSON_OPT,
) -> None:
    """Run a margin book through real prices: calls, liquidations, shortfalls, losses by day."""
    try:
        first_day, last_day = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
    except ValueError as exc:
        raise InputError(f"--from/--to must be dates YYYY-MM-DD: {exc}") from exc
    if last_day <= first_day:
        raise InputError(f"--to ({end}) must be after --from ({start})")
    from margin.schedules import SchedulePolicy

    policy = SchedulePolicy(deadline=schedule, participation=participation)  # refused before any work
    from rich.progress import Progress

    from pipelines.stress import run_stress

    with Progress(transient=True) as progress:
        progress.add_task(f"stress {start} → {end}, {accounts_n:,} accounts", total=None)
        report = run_stress(start, end, accounts_n, regime_name, seed, topup, schedule=policy)
    days = report.pop("days")
    csv = _write_stress(report, days, out, f"stress_{start}_{end}_{regime_name}")
    _print_weeks(report, days, start, end)
    _print_totals(report)
    _print_controls(report)
    t = report["totals"]
    print(
        f"liquidation schedules: expected shortfall {t['expected_shortfall_minor'] / 100:,.0f}, "
        f"realised {t['realised_shortfall_minor'] / 100:,.0f} (against each parent's arrival price)"
    )
    print(f"report: {csv.with_suffix('')}.csv and .json")
    if as_json:
        print(json.dumps({**report, "csv": str(csv)}, default=str))


def _write_stress(report: dict[str, Any], days: Any, out: Path | None, stem: str) -> Path:
    """The stress report as CSV (days) and JSON (all), each written to a temp file and renamed."""
    from creditdesk.settings import get_settings

    folder = out or get_settings().var_dir / "stress"
    folder.mkdir(parents=True, exist_ok=True)
    tmp_csv, tmp_json = folder / f".{stem}.csv.tmp", folder / f".{stem}.json.tmp"
    days.to_csv(tmp_csv, index=False)
    tmp_json.write_text(json.dumps({**report, "days": days.to_dict("records")}, indent=1, default=str))
    tmp_csv.replace(folder / f"{stem}.csv")
    tmp_json.replace(folder / f"{stem}.json")
    return folder / f"{stem}.csv"


def _print_weeks(report: dict[str, Any], days: Any, start: str, end: str) -> None:
    """The replay week by week: warnings, calls, liquidations, shortfalls, loss, book ratio."""
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"margin book through {start} → {end} ({report['price_source']} prices, "
        f"{report['tickers']} tickers, regime {report['regime']})"
    )
    columns = ("week of", "warnings", "calls issued", "calls met", "liquidations", "liquidated")
    for col in (*columns, "shortfalls", "loss", "book ratio"):
        table.add_column(col, justify="right")
    days["week"] = days["date"].str.slice(0, 10).map(lambda s: dt.date.fromisoformat(s).isocalendar()[:2])
    for _, g in days.groupby("week", sort=True):
        table.add_row(
            g["date"].iloc[0],
            str(int(g["warnings"].max())),
            str(int(g["calls_issued"].sum())),
            str(int(g["calls_met"].sum())),
            str(int(g["liquidations_started"].sum())),
            f"{g['liquidated_value_minor'].sum() / 100:,.0f}",
            str(int(g["shortfalls"].sum())),
            f"{g['loss_minor'].sum() / 100:,.0f}",
            f"{g['book_ratio'].iloc[-1]:.2f}",
        )
    Console(width=140).print(table)


def _print_totals(report: dict[str, Any]) -> None:
    """Totals, book VaR/ES with the backtest, and the scenario shocks."""
    t = report["totals"]
    bt = report["backtest"]
    print(
        f"totals: {int(t['calls_issued'])} calls, {int(t['calls_met'])} met, "
        f"{int(t['liquidations_started'])} liquidations ({t['liquidated_value_minor'] / 100:,.0f} sold), "
        f"{int(t['shortfalls'])} shortfalls, loss {t['loss_minor'] / 100:,.2f} "
        f"= {t['loss_minor'] / t['initial_debt_minor']:.4%} of the loans"
    )
    print(
        f"book VaR99 {report['var99_book_minor'] / 100:,.0f}  "
        f"ES97.5 {report['es975_book_minor'] / 100:,.0f}  "
        f"backtest {bt['exceptions']}/{bt['observations']} exceptions, "
        f"Kupiec p {bt['kupiec_p_value']:.3g}, zone {bt['zone']}"
    )
    for s in report["scenarios"]:
        print(
            f"scenario {s['scenario']:>6} ({s['shock']:+.0%}, liquidity ×{s['liquidity']}): "
            f"{s['accounts_call']} call, {s['accounts_liquidate']} liquidate, "
            f"loss if all sold {s['loss_if_all_sold_minor'] / 100:,.0f}"
        )


def _print_controls(report: dict[str, Any]) -> None:
    """Static vs dynamic risk controls side by side, and the regime events behind the difference."""
    static, dynamic, timeline = report["static"], report["dynamic"], report["regime_timeline"]
    print(f"{'same book':<22}{'static':>16}{'dynamic':>16}")
    for key in ("calls", "liquidations", "shortfalls", "loss_minor"):
        a, b = static[key], dynamic[key]
        fmt = (lambda v: f"{v / 100:,.2f}") if key == "loss_minor" else (lambda v: f"{int(v):,}")
        print(f"{key.replace('_minor', ''):<22}{fmt(a):>16}{fmt(b):>16}")
    print(f"regime at start: {timeline['level_at_start']}; first crisis close: {timeline['first_crisis']}")
    for ev in timeline["events"]:
        print(f"  {ev['effective']} {ev['what']} ({ev['why']})")
