# ruff: noqa: E501  (wide column lists of the bulk setup read best on one line)
"""Re-margin a 100,000-facility book per price tick through the books, against the pure engine.

    python benchmarks/bench_margin_book.py [--facilities 100000] [--positions 10] [--json]
        [--skip-postgresql] [--skip-replay] [--replay-accounts 2000]

For each store (SQLite file, PostgreSQL private schema): open the book, then mark it on a
−5 % and a −20 % tick with ``margin.marking.BookMarker`` — the one marking path of the CLI,
the API and the replays: the book held in memory, advanced by the ledger transfers committed
since the last tick (a burst of real deposits is posted between the ticks so that path is
exercised), ``engine.evaluate`` + ``engine.step_calls``, calls written in bounded chunks.
The peer is ``engine.evaluate`` on the same book arrays in the same run.

Setup is not the benchmark: the opened book (instrument master, facilities, the customers'
accounts with their balances) is written in bulk straight into the tables — opening 100,000
facilities with 1,000,000 positions through the ledger's batched path would take minutes
(bench_ledger: ~13.5k transfers/s on SQLite, ~4k/s on PostgreSQL). Such a database does not
replay at end of day (no transfers behind the opening balances): use it for marking only.

Also measured: pre-trade-checked buys per second on ONE hot account with 8 concurrent writers
(each store, a fresh database), and the 2008 stress replay (real S&P 500 prices) with
liquidation schedules against one-shot sales: slippage, realised vs expected shortfall, loss.
PostgreSQL writes new calls with COPY (``margin.repository.add_calls``).

With ``--json`` the last line of stdout is one JSON object: facilities, positions,
sqlite_tick_ms, postgresql_tick_ms (median over the ticks), engine_tick_ms,
sqlite_buys_per_s, postgresql_buys_per_s, schedule_vs_one_shot_slippage, and the rest.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ledger.domain import Transfer
from ledger.service import Ledger
from ledger.storage import make_engine
from margin.chart import Code, account_id, customer_account, platform_account
from margin.domain import MAX_TRANSFERS_PER_BATCH
from margin.engine import CN, call_deadline, evaluate
from margin.marking import BookMarker
from margin.service import MarginDesk
from margin.storage import migrate

PG_URL = os.environ.get("BENCH_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")
CNY = 156
INSTRUMENTS = 1_000
SETUP_CUSTOMERS_PER_CHUNK = 10_000
WRITERS, BURST, HOT_CUSTOMER, HOT_STOCK = 8, 40, 7, 600519
T0_NS = 1_780_000_000 * 10**9


def synthetic_book(n: int, k: int, seed: int = 7) -> dict[str, np.ndarray]:
    """n cn facilities × k positions, maintenance ratios spread over 1.4 … 3.0 at the start."""
    rng = np.random.default_rng(seed)
    price = rng.integers(500, 20_000, INSTRUMENTS)
    inst = np.stack([rng.choice(INSTRUMENTS, k, replace=False) for _ in range(n)]) + 1  # ids 1 …
    qty = rng.integers(10, 500, (n, k))
    mv = (qty * price[inst - 1]).sum(axis=1)
    ratio = rng.uniform(1.4, 3.0, n)
    loan = np.floor(mv / ratio).astype(np.int64)
    return {"price": price, "inst": inst, "qty": qty, "loan": loan, "cash": np.zeros(n, dtype=np.int64)}


def _copy_rows(engine: Engine, table: str, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            marks = ", ".join("?" * len(columns))
            conn.exec_driver_sql(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)
            return
        buf = io.StringIO("".join("\t".join(map(str, r)) + "\n" for r in rows))
        raw = conn.connection.dbapi_connection
        assert raw is not None
        with raw.cursor() as cur:
            cur.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN", buf)


def write_book(engine: Engine, book: dict[str, np.ndarray]) -> None:
    """The opened book straight into the tables (setup only; see the module docstring)."""
    n, k = book["inst"].shape
    _copy_rows(
        engine,
        "margin_instruments",
        ["instrument_id", "symbol", "kind", "conversion_rate_bps", "adv_shares", "volatility_bps", "price_minor", "price_as_of_ns"],
        [(i + 1, f"S{i + 1:06d}", "share", 6_500, 5_000_000, 200, int(p), T0_NS) for i, p in enumerate(book["price"])],
    )  # fmt: skip
    customers = np.arange(1, n + 1)
    _copy_rows(
        engine,
        "margin_facilities",
        ["customer_id", "decision_id", "currency_ledger", "line_minor", "annual_rate_bps", "max_leverage_bps", "regime", "status", "opened_at_ns"],
        [(int(c), f"dec-{c}", CNY, 10**12, 800, 30_000, "cn", "open", T0_NS) for c in customers],
    )  # fmt: skip
    cols = ["id", "ledger", "code", "flags", "user_data", "debits_pending", "debits_posted", "credits_pending", "credits_posted", "timestamp_ns"]  # fmt: skip
    funding = platform_account(Code.FUNDING, CNY)
    _copy_rows(engine, "ledger_accounts", cols, [(funding, CNY, 20, 0, 0, 0, 0, 0, 0, T0_NS)])
    for lo in range(0, n, SETUP_CUSTOMERS_PER_CHUNK):  # bounded memory: ~140k rows a chunk
        hi = min(lo + SETUP_CUSTOMERS_PER_CHUNK, n)
        rows: list[tuple[Any, ...]] = []
        for c, cash, loan in zip(customers[lo:hi].tolist(), book["cash"][lo:hi].tolist(), book["loan"][lo:hi].tolist(), strict=True):  # fmt: skip
            rows.append(
                (customer_account(c, Code.CUSTOMER_CASH), CNY, 10, 1, 0, 0, loan, 0, loan + cash, T0_NS)
            )
            rows.append((customer_account(c, Code.MARGIN_LOAN), CNY, 11, 2, 0, 0, loan, 0, 0, T0_NS))
            rows.append((customer_account(c, Code.ACCRUED_INTEREST), CNY, 12, 2, 0, 0, 0, 0, 0, T0_NS))
            rows.append(
                (customer_account(c, Code.CREDIT_LINE), 1000 + CNY, 13, 1, 0, 0, loan, 0, 10**12, T0_NS)
            )
        owners = np.repeat(customers[lo:hi], k)
        for c, i, q in zip(owners.tolist(), book["inst"][lo:hi].ravel().tolist(), book["qty"][lo:hi].ravel().tolist(), strict=True):  # fmt: skip
            rows.append((account_id(c, Code.SECURITIES, i), 1_000_000 + i, 14, 2, 0, 0, q, 0, 0, T0_NS))
        _copy_rows(engine, "ledger_accounts", cols, rows)
    with engine.begin() as conn:
        conn.execute(text("UPDATE ledger_clock SET last_timestamp_ns = :t"), {"t": T0_NS})


def deposits_burst(engine: Engine, n: int, tick: int, count: int = 2_000) -> int:
    """Real ledger transfers between the ticks: the marking path must advance by them."""
    rng = np.random.default_rng(tick)
    who = rng.choice(np.arange(1, n + 1), size=min(count, n), replace=False)
    funding = platform_account(Code.FUNDING, CNY)
    batch = [
        Transfer(10**15 + tick * 10**7 + i, funding, customer_account(int(c), Code.CUSTOMER_CASH), 1_000, CNY, 1)
        for i, c in enumerate(who.tolist())
    ]  # fmt: skip
    ledger = Ledger(engine, clock=lambda: T0_NS + 10**9)
    for i in range(0, len(batch), MAX_TRANSFERS_PER_BATCH):
        ledger.create_transfers(batch[i : i + MAX_TRANSFERS_PER_BATCH])
    return len(batch)


def engine_peer(marker: BookMarker, prices: np.ndarray, repeats: int = 5) -> float:
    """Median ms of ``engine.evaluate`` on the same book arrays (the pure peer)."""
    state = marker.live.state
    assert state is not None
    rows = np.arange(len(state.customer_ids))
    book = state.sub_book(rows)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        evaluate(book, prices, state.conversion, CN)
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


class FixedClock:
    """Time is an input: every buy asks the same instant (the ledger still stamps strictly later)."""

    def __call__(self) -> int:
        return T0_NS


def hot_account_buys(engine: Engine, writers: int = WRITERS, burst: int = BURST) -> dict[str, Any]:
    """``writers`` threads each fire ``burst`` pre-trade-checked buys on ONE account.

    The checks (initial margin, eligibility, concentration, leverage, the risk controls) run
    inside the transaction that posts each buy, after the account is locked, so the writers
    queue on that lock: this measures the serialised throughput of one hot account. The
    cash runs out part-way (financed buys draw the loan) and the leverage cap refuses the last
    ones, so refusals are part of the load.
    """
    desk = MarginDesk(engine, FixedClock())
    desk.upsert_instrument(HOT_STOCK, "600519.SH", "index_constituent", price_minor=10_000, adv_shares=10**9)
    desk.open_facility(
        HOT_CUSTOMER, "dec-hot", line_minor=10**10, annual_rate_bps=730, max_leverage_bps=30_000
    )
    assert desk.deposit(HOT_CUSTOMER, "dep", 10_000_000).ok

    def fire(writer: int) -> list[str]:
        return [
            desk.buy(HOT_CUSTOMER, f"w{writer}-{k}", HOT_STOCK, 10, 10_000).reason or "ok"
            for k in range(burst)
        ]

    t = time.perf_counter()
    with ThreadPoolExecutor(max_workers=writers) as pool:
        outcomes = [o for batch in pool.map(fire, range(writers)) for o in batch]
    seconds = time.perf_counter() - t
    accepted = outcomes.count("ok")
    return {
        "writers": writers,
        "orders": len(outcomes),
        "accepted": accepted,
        "refusals": {r: outcomes.count(r) for r in sorted(set(outcomes) - {"ok"})},
        "orders_per_s": round(len(outcomes) / seconds, 1),
        "buys_per_s": round(accepted / seconds, 1),
    }


def schedules_on_2008(accounts: int) -> dict[str, Any]:
    """The 2008 stress replay with liquidation schedules (default policy) and with one-shot sales."""
    from margin.schedules import SchedulePolicy
    from pipelines.stress import compare_schedules

    t = time.perf_counter()
    out = compare_schedules("2008-09-01", "2009-03-31", {"schedule": SchedulePolicy()}, n_accounts=accounts)
    keys = ("liquidated_value_minor", "slippage_minor", "expected_shortfall_minor", "realised_shortfall_minor", "loss_minor", "shortfalls")  # fmt: skip
    return {
        "seconds": round(time.perf_counter() - t, 1),
        **{f"{run}_{k}": round(float(out[run][k]), 0) for run in ("schedule", "one_shot") for k in keys},
    }


def run_store(engine: Engine, book: dict[str, np.ndarray], label: str) -> dict[str, Any]:
    t = time.perf_counter()
    write_book(engine, book)
    setup_s = time.perf_counter() - t
    n = len(book["loan"])
    marker = BookMarker(engine)
    call_deadline(CN, np.array([np.datetime64("2026-06-01")]))  # warm the exchange calendar (one-off)
    base = {int(i + 1): int(p) for i, p in enumerate(book["price"])}
    t = time.perf_counter()
    marker.tick(base, T0_NS + 10**9)  # the first tick loads the book
    load_ms = (time.perf_counter() - t) * 1e3
    ticks = []
    for shock, day in ((0.95, 1), (0.80, 2)):
        burst = deposits_burst(engine, n, day)
        prices = {i: max(1, int(p * shock)) for i, p in base.items()}
        t = time.perf_counter()
        out = marker.tick(prices, T0_NS + day * 86_400 * 10**9)
        ms = (time.perf_counter() - t) * 1e3
        ticks.append(
            {
                "shock": round(shock - 1, 2),
                "tick_ms": round(ms, 1),
                "transfers_applied": burst,
                "calls_issued": int(out.issued.sum()),
                "calls_met": int(out.met.sum()),
                "to_liquidate": int(out.liquidate.sum()),
                "rows_written": int(out.issued.sum() + out.met.sum()) + len(prices),
            }
        )
    state = marker.live.state
    assert state is not None
    peer = engine_peer(marker, state.prices)
    return {"setup_s": round(setup_s, 1), "load_ms": round(load_ms, 1), "ticks": ticks, "engine_ms": peer}


def on_sqlite(book: dict[str, np.ndarray], tmp: Path) -> dict[str, Any]:
    eng = make_engine(f"sqlite:///{tmp / 'book.db'}")
    migrate(eng)
    out = run_store(eng, book, "sqlite")
    eng.dispose()
    hot = make_engine(f"sqlite:///{tmp / 'hot.db'}")
    migrate(hot)
    out["hot_account"] = hot_account_buys(hot)
    hot.dispose()
    return out


def on_postgresql(book: dict[str, np.ndarray]) -> dict[str, Any]:
    admin = make_engine(PG_URL)
    schemas = [f"bench_book_{uuid.uuid4().hex[:8]}", f"bench_hot_{uuid.uuid4().hex[:8]}"]
    with admin.begin() as conn:
        for schema in schemas:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        eng = make_engine(f"{PG_URL}?options=-csearch_path%3D{schemas[0]}")
        migrate(eng)
        out = run_store(eng, book, "postgresql")
        eng.dispose()
        hot = make_engine(f"{PG_URL}?options=-csearch_path%3D{schemas[1]}", pool_size=WRITERS + 2)
        migrate(hot)
        out["hot_account"] = hot_account_buys(hot)
        hot.dispose()
        return out
    finally:
        with admin.begin() as conn:
            for schema in schemas:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def report(results: dict[str, Any], summary: dict[str, Any]) -> None:
    """Per store: the ticks against the engine peer, and the hot account's buys per second."""
    engine_ms = summary["engine_tick_ms"]
    for store, r in results.items():
        median = statistics.median(t["tick_ms"] for t in r["ticks"])
        summary[f"{store}_tick_ms"] = round(median, 1)
        summary[f"{store}_ratio_to_engine"] = round(median / engine_ms, 1)
        summary[f"{store}_load_ms"] = r["load_ms"]
        summary[f"{store}_ticks"] = r["ticks"]
        summary[f"{store}_buys_per_s"] = r["hot_account"]["buys_per_s"]
        summary[f"{store}_hot_account"] = r["hot_account"]
        print(
            f"{store}: setup {r['setup_s']} s, first load {r['load_ms']} ms, engine peer {r['engine_ms']:.1f} ms"
        )
        for t in r["ticks"]:
            print(
                f"  tick {t['shock']:+.0%}: {t['tick_ms']} ms, {t['transfers_applied']} transfers applied, "
                f"{t['calls_issued']} calls issued, {t['to_liquidate']} to liquidate, {t['rows_written']} rows written"
            )
        h = r["hot_account"]
        print(
            f"  one hot account, {h['writers']} writers: {h['buys_per_s']} buys/s accepted "
            f"({h['orders_per_s']} orders/s; {h['accepted']}/{h['orders']} accepted, refusals {h['refusals']})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--facilities", type=int, default=100_000)
    parser.add_argument("--positions", type=int, default=10)
    parser.add_argument("--replay-accounts", type=int, default=2_000, help="accounts in the 2008 replay")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--skip-postgresql", action="store_true")
    parser.add_argument("--skip-replay", action="store_true")
    args = parser.parse_args()
    book = synthetic_book(args.facilities, args.positions)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["sqlite"] = on_sqlite(book, Path(tmp))
    if not args.skip_postgresql:
        results["postgresql"] = on_postgresql(book)
    summary: dict[str, Any] = {
        "facilities": args.facilities,
        "positions": args.facilities * args.positions,
        "engine_tick_ms": round(statistics.median(r["engine_ms"] for r in results.values()), 1),
    }
    report(results, summary)
    summary.setdefault("postgresql_tick_ms", None)
    if not args.skip_replay:
        replay = schedules_on_2008(args.replay_accounts)
        summary["replay_2008"] = replay
        summary["schedule_vs_one_shot_slippage"] = round(
            replay["schedule_slippage_minor"] / max(replay["one_shot_slippage_minor"], 1.0), 3
        )
        print(
            f"2008 replay, {args.replay_accounts:,} accounts: slippage {replay['schedule_slippage_minor'] / 100:,.0f} "
            f"with schedules vs {replay['one_shot_slippage_minor'] / 100:,.0f} one-shot; implementation shortfall "
            f"realised {replay['schedule_realised_shortfall_minor'] / 100:,.0f} vs expected "
            f"{replay['schedule_expected_shortfall_minor'] / 100:,.0f}; loss {replay['schedule_loss_minor'] / 100:,.0f} "
            f"vs {replay['one_shot_loss_minor'] / 100:,.0f}"
        )
    summary["load_average"] = os.getloadavg()[0]
    if args.json:
        print(json.dumps(summary))


if __name__ == "__main__":
    main()
