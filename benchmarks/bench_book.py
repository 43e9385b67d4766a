# ruff: noqa: E501  (wide result lines read best on one line)
"""Simulated business days per second of the living book, 10,000 and 100,000 open lines.

    python benchmarks/bench_book.py [--lines 10000 100000] [--days 3] [--skip-postgresql] [--json]

One business day is ``pipelines.book.run_day`` as a book run calls it, mid-month (no
decisions, no month-end review): credit events drawn for every line, ~1 % of accounts
trading through the margin desk (``MarginDesk.buy`` / ``sell`` with every pre-trade check),
the whole book marked at that day's real S&P 500 closes through the margin room's book-wide
path (``MarginDesk.mark_to_market`` → ``margin.marking``), calls met or liquidated, interest
accrued for every calendar day since the previous business day (``accrue_interest``: one
ledger transfer per loan per day), each day one transaction. Days: 2020-03-09 … (the crash).

Setup is not the benchmark: the open book (instrument master at real closes, facilities,
customer accounts with balances and 5 positions each, the book's line rows) is written in
bulk straight into the tables with ``bench_margin_book.write_book`` (opening 100,000 lines
through the desk would take hours). Each (store, size) runs in its own process so its peak
memory (ru_maxrss) is its own. The peer, in the same run, is the marking path alone
(``BookMarker.tick`` on the same book): how much of a day is marking.

With ``--json`` the last line of stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

PG_URL = os.environ.get("BENCH_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")
FIRST_DAY = dt.date(2020, 3, 9)
NAMES = 300  # instruments: the first 300 S&P tickers with prices on FIRST_DAY
POSITIONS = 5
TRADE_PROB = 0.01


def price_book(first: dt.date, days: int) -> Any:
    """Real closes of ``NAMES`` tickers from 60 days before ``first`` (the market-fall lookback)."""
    import pandas as pd

    from creditdesk.settings import get_settings
    from pipelines.book_inputs import PriceBook

    raw = pd.read_parquet(get_settings().sp500_prices_path, columns=["date", "ticker", "close"])
    lo, hi = (
        pd.Timestamp(first) - pd.Timedelta(days=120),
        pd.Timestamp(first) + pd.Timedelta(days=3 * days + 14),
    )
    raw = raw[(raw["date"] >= lo) & (raw["date"] <= hi)]
    alive = raw[raw["date"] == raw.loc[raw["date"] >= pd.Timestamp(first), "date"].min()]["ticker"]
    tickers = sorted(alive.dropna().unique())[:NAMES]
    return PriceBook.from_prices(raw[raw["ticker"].isin(tickers)])


def book_arrays(n: int, prices: Any, index: int, seed: int = 7) -> dict[str, np.ndarray]:
    """n lines × 5 positions at the day's closes, maintenance ratios spread over 1.6 … 3.0."""
    rng = np.random.default_rng(seed)
    price = np.maximum(np.rint(prices.close[index] * 100), 1).astype(np.int64)
    inst = np.stack([np.sort(rng.choice(len(price), POSITIONS, replace=False)) for _ in range(n)]) + 1
    qty = rng.integers(100, 2_000, (n, POSITIONS))
    mv = (qty * price[inst - 1]).sum(axis=1)
    loan = np.floor(mv / rng.uniform(1.6, 3.0, n)).astype(np.int64)
    cash = (0.05 * mv).astype(np.int64)
    return {"price": price, "inst": inst, "qty": qty, "loan": loan, "cash": cash}


def write_lines(engine: Engine, arrays: dict[str, np.ndarray]) -> None:
    """The book's own line rows (status open), in bulk."""
    from bench_margin_book import _copy_rows

    from pipelines.book_state import create_book_tables

    create_book_tables(engine)
    n = len(arrays["loan"])
    cols = [
        "customer_id",
        "application_id",
        "decision_id",
        "application_day",
        "status",
        "grade",
        "pd_12m",
        "lgd",
        "ccf",
        "limit_minor",
        "leverage_bps",
        "rate_bps",
        "resets_done",
        "next_reset_day",
        "deposit_minor",
        "draw_share",
        "trade_prob",
        "meet_prob",
        "basket",
        "shortfall_since",
        "last_call_day",
        "recovery_day",
        "recovery_minor",
    ]
    rows = [
        (c, 10**9 + c, f"dec-{c}", 20200115, "open", 6, 0.02, 0.3, 0.8, 10**12, 30_000, 800, 0, 20200415,
         int(arrays["loan"][c - 1]), 0.5, TRADE_PROB, 0.5, json.dumps(arrays["inst"][c - 1].tolist()), 0, 0, 0, 0)
        for c in range(1, n + 1)
    ]  # fmt: skip
    for lo in range(0, n, 20_000):
        _copy_rows(engine, "book_lines", cols, rows[lo : lo + 20_000])


def register(engine: Engine, prices: Any, price_minor: np.ndarray, at_ns: int) -> None:
    """Platform and clearing accounts, and each name in the master as the book registers it
    (an index constituent: financed-purchase target, 70 % conversion)."""
    from bench_margin_book import CNY

    from ledger.service import Ledger
    from margin.chart import clearing_securities_account, platform_accounts
    from margin.service import MarginDesk

    ids = range(1, len(price_minor) + 1)
    Ledger(engine, clock=lambda: at_ns + 1).create_accounts(
        [*platform_accounts(CNY), *(clearing_securities_account(i) for i in ids)]
    )
    desk = MarginDesk(engine, clock=lambda: at_ns + 2, buy_checks=())
    for i in ids:
        desk.upsert_instrument(
            i, str(prices.tickers[i - 1]), "index_constituent", int(price_minor[i - 1]), 5_000_000
        )


def make_book(engine: Engine, prices: Any) -> Any:
    from margin.checks import DEFAULT_BUY_CHECKS
    from margin.risk_checks import risk_buy_checks
    from pipelines.book import Book, BookConfig
    from pricing.floating import load_base_rates

    config = BookConfig(population=Path("."), start=FIRST_DAY, months=1, seed=1)
    return Book(config, engine, {}, prices, load_base_rates(), None, None, None, "bench", {},
                buy_checks=(*DEFAULT_BUY_CHECKS, *risk_buy_checks()))  # fmt: skip


def _stamp(marks: list[tuple[str, float]], _day: int, name: str) -> None:
    marks.append((name, time.perf_counter()))


def one(store: str, n: int, days: int) -> dict[str, Any]:
    """Set up an n-line book on ``store`` and run ``days`` business days (this process only)."""
    from bench_margin_book import write_book

    from ledger.storage import make_engine
    from margin.marking import BookMarker
    from margin.storage import migrate
    from pipelines.book import run_day

    prices = price_book(FIRST_DAY, days)
    start = int(np.searchsorted(prices.days, np.datetime64(FIRST_DAY, "D")))
    arrays = book_arrays(n, prices, start - 1)
    with tempfile.TemporaryDirectory() as tmp:
        schema = f"bench_bookrun_{uuid.uuid4().hex[:8]}"
        url = (
            f"sqlite:///{Path(tmp) / 'book.db'}"
            if store == "sqlite"
            else f"{PG_URL}?options=-csearch_path%3D{schema}"
        )
        admin = make_engine(PG_URL) if store == "postgresql" else None
        if admin is not None:
            with admin.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        try:
            engine = make_engine(url)
            migrate(engine)
            t = time.perf_counter()
            write_book(engine, arrays)
            write_lines(engine, arrays)
            with engine.begin() as conn:  # re-stamp the bulk rows (T0_NS, 2026) before the book's first day
                opened = int(np.datetime64(FIRST_DAY - dt.timedelta(days=60), "ns").astype(np.int64))
                for sql in (
                    "UPDATE ledger_clock SET last_timestamp_ns = :t",
                    "UPDATE ledger_accounts SET timestamp_ns = :t",
                    "UPDATE margin_facilities SET opened_at_ns = :t",
                    "UPDATE margin_instruments SET price_as_of_ns = :t",
                ):
                    conn.execute(text(sql), {"t": opened})
                # the flags of margin.chart's accounts (cash and line: credits ≥ debits; loan,
                # interest, positions: debits ≥ credits), so every ledger rule holds on the day
                conn.execute(text("UPDATE ledger_accounts SET flags = 2 WHERE code IN (10, 13)"))
                conn.execute(text("UPDATE ledger_accounts SET flags = 4 WHERE code IN (11, 12, 14)"))
            register(engine, prices, arrays["price"], opened)
            setup_s = time.perf_counter() - t
            book = make_book(engine, prices)
            seconds, counts, stages = [], [], []
            for k in range(days):
                index = start + k
                marks: list[tuple[str, float]] = []
                stage = partial(_stamp, marks)
                t = time.perf_counter()
                counts.append(
                    run_day(
                        book, index, prices.days[index - 1], first=False, last_of_month=False, on_stage=stage
                    )
                )
                seconds.append(time.perf_counter() - t)
                stamps = [t] + [m[1] for m in marks]
                stages.append({name: round(b - a, 2) for (name, b), a in zip(marks, stamps, strict=False)})
            marker = BookMarker(engine)
            day_prices = prices.price_minor(start + days - 1)
            t = time.perf_counter()
            marker.tick({i: p for i, p in day_prices.items() if i <= len(arrays["price"])}, int(1.7e18))
            mark_s = time.perf_counter() - t
            engine.dispose()
        finally:
            if admin is not None:
                with admin.begin() as conn:
                    conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
                admin.dispose()
    return {
        "store": store,
        "lines": n,
        "setup_s": round(setup_s, 1),
        "day_s": [round(s, 2) for s in seconds],
        "days_per_s": round(len(seconds) / sum(seconds), 3),
        "stage_s": stages,  # opened: credit events; traded: ~1 % trading; marked: mark + calls; accrued
        "mark_only_s": round(mark_s, 2),
        "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "counts": counts,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--skip-postgresql", action="store_true")
    parser.add_argument("--one", nargs=2, metavar=("STORE", "LINES"), help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.one[0], int(args.one[1]), args.days)))
        return
    stores = ["sqlite"] + ([] if args.skip_postgresql else ["postgresql"])
    results = []
    for n in args.lines:
        for store in stores:
            done = subprocess.run(
                [sys.executable, __file__, "--one", store, str(n), "--days", str(args.days)],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            if done.returncode != 0:
                print(f"{store} {n:,}: failed: {done.stderr.strip().splitlines()[-1:]}")
                continue
            r = json.loads(done.stdout.strip().splitlines()[-1])
            results.append(r)
            trades = sum(c.get("buys", 0) + c.get("sells", 0) for c in r["counts"])
            print(
                f"{store:10s} {n:>7,} lines: {r['days_per_s']} business days/s (days {r['day_s']} s; marking alone {r['mark_only_s']} s),"
                f" {trades} trades in {args.days} days, peak {r['peak_mb']} MB, setup {r['setup_s']} s"
            )
    summary = {
        "days": args.days,
        "first_day": str(FIRST_DAY),
        "results": results,
        "load_average": os.getloadavg()[0],
    }
    if args.json:
        print(json.dumps(summary))


if __name__ == "__main__":
    main()
