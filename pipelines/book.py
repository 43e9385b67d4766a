"""``creditdesk book run``: the living book, one business day at a time, on the real components.

Each month the applications dated in it are decided by the serving path (one feature code,
the champion models, ``pricing.decision.decide``); approved lines open on their application
day at a floating rate (base rate in force + spread by grade); customers deposit, buy and
sell through the margin desk; every business day the book is marked at that day's real
closes, calls are met by a top-up or handed to liquidation, shortfalls go to collection and
are cured or, past the cure period, defaulted and written off, with a later recovery;
interest accrues for every calendar day at the rate in force; at month end the ECL
allowance is posted by stage. Outcomes are then read back from the ledger
(``margin.outcomes``).

Determinism and resumability: every random draw comes from ``SeedSequence([seed, day])``,
every ledger time from a business clock that starts at the simulated day, and each business
day (with its ``book_days`` row) commits as one transaction. A run killed at any point
resumes at the first uncommitted day and produces the same books as an uninterrupted run.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, func, insert, select

from creditdesk.errors import InputError
from pipelines import book_days_ops as ops
from pipelines.book_inputs import PriceBook
from pipelines.book_review import review
from pipelines.book_state import (
    book_days,
    book_decisions,
    book_lines,
    book_reviews,
    claim_run,
    committed_days,
    create_book_tables,
    day_transaction,
    yyyymmdd,
)
from pricing.floating import BaseRateSeries, FloatingTerms, load_base_rates
from pricing.provisions import StagingRules

NS_PER_DAY = 86_400 * 10**9
TABLES = ("customers", "bureau", "trades", "cash_flows", "applications", "instruments", "prices")


@dataclass(frozen=True)
class BookConfig:
    population: Path
    start: dt.date
    months: int
    seed: int = 42
    database_url: str | None = None
    models_dir: Path | None = None
    base_rates: Path | None = None
    policy_path: Path | None = None
    cure_days: int = 90  # DESIGN.md: default = shortfall unpaid 90 days past due
    recovery_delay_days: int = 60
    recovery_share: float = 0.30  # of a written-off loss, collected later (generator's collection share)
    credit_event_multiplier: float = 1.0  # stress lever on the credit-event hazard (1 = the PD as decided)
    terms: FloatingTerms = field(default_factory=FloatingTerms)
    staging: StagingRules = field(default_factory=StagingRules)


class BookClock:
    """Business time: the simulated day's midnight plus a tick per call (ledger stamps only rise)."""

    TICK_NS = 10_000  # > the largest batch, so stamps within a batch never reach the next call

    def __init__(self) -> None:
        self.base_ns = 0
        self.ticks = 0

    def start(self, day: np.datetime64) -> None:
        self.base_ns = int(pd.Timestamp(str(day)[:10]).value)
        self.ticks = 0

    def __call__(self) -> int:
        self.ticks += 1
        return self.base_ns + self.ticks * self.TICK_NS


@dataclass
class Book:
    """Everything one run needs, loaded once (the decision path, prices, rates, tables)."""

    config: BookConfig
    engine: Engine
    tables: dict[str, pd.DataFrame]
    prices: PriceBook
    series: BaseRateSeries
    champions: Any
    policy: Any
    instruments: Any
    run_key: str
    identity: dict[str, Any]
    buy_checks: tuple[Any, ...] = ()
    marker: Any = None  # margin.marking.BookMarker, kept across days (see book_days_ops.mark_and_call)
    clock: BookClock = field(default_factory=BookClock)


def _read_population(path: Path) -> dict[str, pd.DataFrame]:
    if not path.is_dir():
        raise InputError(f"--population: no such folder {path}", field="population")
    missing = [t for t in TABLES if not (path / f"{t}.parquet").is_file()]
    if missing:
        raise InputError(
            f"--population {path} lacks {missing[0]}.parquet (run creditdesk generate)", field="population"
        )
    return {t: pd.read_parquet(path / f"{t}.parquet") for t in TABLES}


def _champions(models_dir: Path | None) -> Any:
    from models.bundle import ChampionSet

    if models_dir is None:
        from models.registry import load_champions

        try:
            return load_champions()
        except LookupError as exc:
            raise InputError(f"{exc}; or pass --models DIR (a train output folder)", field="models") from exc
    pd_dir, lgd_dir, ead_dir = (models_dir / name for name in ("pd", "lgd", "ead"))
    if not (pd_dir.is_dir() and lgd_dir.is_dir() and ead_dir.is_dir()):
        raise InputError(f"--models {models_dir} must hold pd/, lgd/ and ead/ bundles", field="models")
    return ChampionSet.from_dirs(pd_dir, lgd_dir, ead_dir)


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    for name in TABLES:
        h.update((path / f"{name}.parquet").read_bytes())
    return h.hexdigest()[:16]


def load_book(config: BookConfig) -> Book:
    """Read and check every input before anything is written (bad input: InputError)."""
    from creditdesk.settings import get_settings
    from features.builders import InstrumentIndex
    from ledger.storage import make_engine
    from margin.checks import DEFAULT_BUY_CHECKS
    from margin.risk_checks import risk_buy_checks
    from margin.storage import migrate
    from pricing.policy import load_policy

    tables = _read_population(config.population)
    prices = PriceBook.from_prices(tables["prices"])
    window = prices.window(config.start, config.months)
    series = load_base_rates(config.base_rates)
    series.rate_in_force(np.arange(prices.days[window[0]] - 1, prices.days[window[-1]] + 1))
    champions = _champions(config.models_dir)
    policy = load_policy(config.policy_path)
    identity = {
        "population": _digest(config.population),
        "models": hashlib.sha256(champions.pd.booster.model_to_string().encode()).hexdigest()[:16],
        "policy": policy.policy_hash[:16],
        "base_rates": hashlib.sha256(series.rate_bps.tobytes() + series.fixing_days.tobytes()).hexdigest()[
            :16
        ],
    }
    behaviour = {
        k: getattr(config, k)
        for k in (
            "cure_days",
            "recovery_delay_days",
            "recovery_share",
            "credit_event_multiplier",
            "terms",
            "staging",
        )
    }
    key_src = json.dumps(
        {**identity, **behaviour, "seed": config.seed, "start": str(config.start)},
        sort_keys=True,
        default=str,
    )
    engine = make_engine(config.database_url or get_settings().database_url)
    migrate(engine)
    create_book_tables(engine)
    return Book(
        config=config,
        engine=engine,
        tables=tables,
        prices=prices,
        series=series,
        champions=champions,
        policy=policy,
        instruments=InstrumentIndex.from_frame(tables["instruments"]),
        run_key=hashlib.sha256(key_src.encode()).hexdigest(),
        identity=identity,
        buy_checks=(*DEFAULT_BUY_CHECKS, *risk_buy_checks()),
    )


def run_book(
    config: BookConfig,
    on_day: Callable[[Book, int, dict[str, int]], None] | None = None,
    on_stage: Callable[[int, str], None] | None = None,
) -> dict[str, Any]:
    """Run (or resume) the book over the window; return the run's summary."""
    book = load_book(config)
    window = book.prices.window(config.start, config.months)
    with book.engine.begin() as conn:
        claim_run(conn, book.run_key, config.seed, yyyymmdd(book.prices.days[window[0]]), book.identity)
        done = set(committed_days(conn))
    ran = 0
    for k, index in enumerate(window):
        day = book.prices.days[index]
        if yyyymmdd(day) in done:
            continue
        prev = book.prices.days[window[k - 1]] if k else day - 1
        summary = run_day(
            book,
            int(index),
            prev,
            first=k == 0,
            last_of_month=_last_of_month(book, window, k),
            on_stage=on_stage,
        )
        ran += 1
        if on_day is not None:
            on_day(book, yyyymmdd(day), summary)
    return summarise(book, window, ran)


def _last_of_month(book: Book, window: np.ndarray, k: int) -> bool:
    if k == len(window) - 1:
        return True
    this, nxt = (pd.Timestamp(book.prices.days[window[i]]) for i in (k, k + 1))
    return (this.year, this.month) != (nxt.year, nxt.month)


def _first_of_month(book: Book, index: int, first: bool) -> bool:
    if first:
        return True
    this, prev = (pd.Timestamp(book.prices.days[i]) for i in (index, index - 1))
    return (this.year, this.month) != (prev.year, prev.month)


def run_day(
    book: Book,
    index: int,
    prev: np.datetime64,
    *,
    first: bool,
    last_of_month: bool,
    on_stage: Callable[[int, str], None] | None = None,
) -> dict[str, int]:
    """One business day in one transaction; a failure anywhere rolls the whole day back."""
    day = book.prices.days[index]
    ymd = yyyymmdd(day)
    rng = np.random.default_rng(np.random.SeedSequence([book.config.seed, ymd]))
    counts: Counter[str] = Counter()
    book.clock.start(day)

    def stage(name: str) -> None:
        if on_stage is not None:
            on_stage(ymd, name)

    with day_transaction(book.engine) as (conn, day_engine):
        ctx = ops.DayContext(book, conn, day_engine, day, index, rng, counts)
        if _first_of_month(book, index, first):
            ops.decide_month(ctx)
            stage("decided")
        ops.open_due(ctx)
        stage("opened")
        ops.collections(ctx)
        ops.credit_events(ctx)
        ops.trade(ctx)
        stage("traded")
        ops.mark_and_call(ctx)
        stage("marked")
        ops.recoveries(ctx)
        ops.accrue(ctx, prev)
        stage("accrued")
        if last_of_month:
            pd_now = review(ctx)
            stage("reviewed")
            ops.provision(ctx, pd_now)
            stage("provisioned")
        conn.execute(insert(book_days).values(day=ymd, summary=json.dumps(dict(counts), sort_keys=True)))
    return dict(counts)


def summarise(book: Book, window: np.ndarray, ran: int) -> dict[str, Any]:
    """Totals over the committed days, line statuses and outcomes read from the books."""
    from margin.outcomes import labels_from_books, read_credit_transfers, read_facilities
    from monitoring.vintages import vintage_curves, vintages_json

    with book.engine.connect() as conn:
        days = conn.execute(select(book_days).order_by(book_days.c.day)).all()
        statuses = Counter(r.status for r in conn.execute(select(book_lines.c.status)))
        decisions = Counter(r.outcome for r in conn.execute(select(book_decisions.c.outcome)))
        totals: Counter[str] = Counter()
        for r in days:
            totals.update({k: v for k, v in json.loads(r.summary).items() if not k.startswith("stage")})
        last = days[-1] if days else None
        as_of_ns = (
            int(np.datetime64(pd.Timestamp(str(last.day)), "ns").astype(np.int64)) + NS_PER_DAY if last else 0
        )
        labels = labels_from_books(read_credit_transfers(conn), read_facilities(conn), as_of_ns)
        review = latest_review(conn)
    provisions = json.loads(last.summary) if last else {}
    as_of = pd.Timestamp(str(last.day)) if last else pd.Timestamp(book.config.start)
    return {
        "run_key": book.run_key[:16],
        "seed": book.config.seed,
        "business_days": len(window),
        "days_committed": len(days),
        "days_run_now": ran,
        "last_day": int(last.day) if last else None,
        "decisions": dict(decisions),
        "lines": dict(statuses),
        "totals": dict(totals),
        "provisions": {k: v for k, v in provisions.items() if k.startswith("stage")},
        "defaults": int(labels["default"].sum()),
        "loss_minor": int(labels["loss_minor"].sum()),
        "vintages": vintages_json(vintage_curves(labels, as_of, max_months=24)),
        "line_review": review,
    }


def latest_review(conn: Connection) -> dict[str, Any]:
    """The latest month's review: actions counted, and the early-warning list with reasons."""
    last = conn.execute(select(func.max(book_reviews.c.month_end))).scalar()
    if last is None:
        return {"month_end": None, "actions": {}, "early_warning": []}
    rows = conn.execute(
        select(book_reviews).where(book_reviews.c.month_end == last).order_by(book_reviews.c.customer_id)
    ).all()
    warn = [
        {
            "customer_id": int(r.customer_id),
            "action": r.action,
            "reason": r.reason,
            "pd_at_origination": round(float(r.pd_at_origination), 6),
            "pd_now": round(float(r.pd_now), 6),
            "new_limit_minor": int(r.new_limit_minor),
        }
        for r in rows
        if r.early_warning
    ]
    return {"month_end": int(last), "actions": dict(Counter(r.action for r in rows)), "early_warning": warn}


__all__ = [
    "Book",
    "BookClock",
    "BookConfig",
    "latest_review",
    "load_book",
    "run_book",
    "run_day",
    "summarise",
    "yyyymmdd",
]
