"""Ledger and margin benchmarks, with a naive baseline measured in the same run.

    .venv/bin/python benchmarks/bench_ledger.py [--quick]

* transfers/s on SQLite (WAL, synchronous=FULL) in batches of 1, 100 and 8,000;
* transfers/s on PostgreSQL (127.0.0.1, fresh schema) with 1 and 8 concurrent client
  processes, batches of 1,000 over shared hot accounts;
* the naive baseline: SQLAlchemy ORM, one session commit per transfer (read both accounts,
  check the limit, update balances, insert the transfer), on both databases;
* one price tick through the margin engine for 100k accounts × 10 positions;
* historical VaR/ES (250 days) for 10k accounts.

Not a test: the machine is shared, so numbers vary run to run; the peers run in the same
process minutes apart so the comparison holds.
"""

from __future__ import annotations

import multiprocessing as mp
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import creditdesk  # noqa: F401
from ledger.domain import Account, AccountFlags, Transfer
from ledger.service import Ledger
from ledger.storage import make_engine, migrate

PG_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
N_ACCOUNTS = 1_000
QUICK = "--quick" in sys.argv


def setup_books(url: str) -> Ledger:
    engine = make_engine(url)
    migrate(engine)
    ledger = Ledger(engine)
    flags = int(AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS)
    accounts = [Account(1, 1, 20)] + [Account(2 + i, 1, 10, flags) for i in range(N_ACCOUNTS)]
    ledger.create_accounts(accounts)
    ledger.create_transfers([Transfer(10**12 + i, 1, 2 + i, 10**12, 1, 1) for i in range(N_ACCOUNTS)])
    return ledger


def transfers(start_id: int, n: int, seed: int) -> list[Transfer]:
    rng = np.random.default_rng(seed)
    dr = rng.integers(2, 2 + N_ACCOUNTS, n)
    cr = rng.integers(2, 2 + N_ACCOUNTS, n)
    cr = np.where(cr == dr, 1, cr)
    amounts = rng.integers(1, 1_000, n)
    return [Transfer(start_id + i, int(dr[i]), int(cr[i]), int(amounts[i]), 1, 1) for i in range(n)]


def bench_batched(ledger: Ledger, batch: int, total: int, start_id: int) -> float:
    work = transfers(start_id, total, seed=batch)
    t0 = time.perf_counter()
    for i in range(0, total, batch):
        results = ledger.create_transfers(work[i : i + batch])
        assert all(r.value == "ok" for r in results), set(results)
    return total / (time.perf_counter() - t0)


def bench_naive_orm(url: str, total: int, start_id: int) -> float:
    """One ORM session and commit per transfer: what a first implementation usually does."""
    from sqlalchemy.orm import DeclarativeBase, Session

    from ledger.storage import accounts as accounts_table
    from ledger.storage import transfers as transfers_table

    class Base(DeclarativeBase):
        pass

    class AccountRow(Base):
        __table__ = accounts_table

    class TransferRow(Base):
        __table__ = transfers_table

    engine = make_engine(url)
    work = transfers(start_id, total, seed=99)
    t0 = time.perf_counter()
    for t in work:
        with Session(engine) as session:
            if session.get(TransferRow, t.id) is not None:
                continue
            ids = sorted((t.debit_account_id, t.credit_account_id))
            found: list[Any] = (
                session.query(AccountRow).filter(accounts_table.c.id.in_(ids)).with_for_update().all()
            )
            rows = {r.id: r for r in found}
            dr, cr = rows[t.debit_account_id], rows[t.credit_account_id]
            if dr.flags & 2 and dr.debits_posted + dr.debits_pending + t.amount_minor > dr.credits_posted:
                continue
            dr.debits_posted += t.amount_minor
            cr.credits_posted += t.amount_minor
            session.add(
                TransferRow(
                    id=t.id,
                    debit_account_id=t.debit_account_id,
                    credit_account_id=t.credit_account_id,
                    amount_minor=t.amount_minor,
                    ledger=1,
                    code=1,
                    flags=0,
                    pending_id=0,
                    timeout_s=0,
                    user_data=0,
                    timestamp_ns=time.time_ns(),
                )
            )
            session.commit()
    rate = total / (time.perf_counter() - t0)
    engine.dispose()
    return rate


def _pg_client(url: str, k: int, batches: int, batch: int, offset: int, out: mp.Queue, go: object) -> None:
    ledger = Ledger(make_engine(url))
    work = transfers(offset + 10**8 * (k + 1), batches * batch, seed=offset + k)
    out.put(("ready", k))
    go.wait()  # type: ignore[attr-defined]  # all clients start together
    t0 = time.perf_counter()
    bad = 0
    for i in range(0, len(work), batch):
        results = ledger.create_transfers(work[i : i + batch])
        bad += sum(r.value != "ok" for r in results)
    out.put(("done" if not bad else f"{bad} transfers refused", time.perf_counter() - t0))


def bench_pg_clients(url: str, clients: int, batches: int, batch: int) -> float:
    ctx = mp.get_context("spawn")
    out: mp.Queue = ctx.Queue()
    offset = 10**10 * clients
    go = ctx.Event()
    procs = [
        ctx.Process(target=_pg_client, args=(url, k, batches, batch, offset, out, go)) for k in range(clients)
    ]
    for p in procs:
        p.start()
    for _ in range(clients):
        out.get(timeout=600)
    go.set()
    t0 = time.perf_counter()
    for _ in range(clients):
        status, _seconds = out.get(timeout=600)
        assert status == "done", status
    wall = time.perf_counter() - t0
    for p in procs:
        p.join()
    return clients * batches * batch / wall


def pg_schema() -> tuple[str, object] | None:
    from sqlalchemy import text

    try:
        admin = make_engine(PG_URL, connect_args={"connect_timeout": 3})
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:
        print(f"PostgreSQL not available ({type(exc).__name__}); skipping its rows")
        return None
    return schema, admin


def bench_margin_tick(n_accounts: int = 100_000, per_account: int = 10, n_instruments: int = 3_000) -> float:
    from margin.engine import CN, Book, evaluate

    rng = np.random.default_rng(0)
    acc = np.repeat(np.arange(n_accounts), per_account)
    ins = rng.integers(0, n_instruments, n_accounts * per_account)
    qty = rng.integers(100, 10_000, n_accounts * per_account).astype(np.float64)
    prices = rng.uniform(5, 200, n_instruments)
    mv = np.bincount(acc, weights=qty * prices[ins], minlength=n_accounts)
    book = Book(np.zeros(n_accounts), mv / rng.uniform(1.2, 3.0, n_accounts), acc, ins, qty)
    conv = np.full(n_instruments, 0.7)
    times = []
    for _ in range(7):
        tick = prices * (1 + rng.normal(0, 0.02, n_instruments))
        t0 = time.perf_counter()
        ev = evaluate(book, tick, conv, CN)
        times.append(time.perf_counter() - t0)
        assert len(ev.status) == n_accounts
    return float(np.median(times) * 1e3)


def bench_var(n_accounts: int = 10_000, per_account: int = 10, n_instruments: int = 500) -> float:
    from margin.engine import Book
    from margin.risk import pnl_scenarios, var_es

    rng = np.random.default_rng(1)
    acc = np.repeat(np.arange(n_accounts), per_account)
    ins = rng.integers(0, n_instruments, n_accounts * per_account)
    qty = rng.integers(100, 10_000, n_accounts * per_account).astype(np.float64)
    prices = rng.uniform(5, 200, n_instruments)
    returns = rng.standard_t(4, (250, n_instruments)) * 0.015
    book = Book(np.zeros(n_accounts), np.zeros(n_accounts), acc, ins, qty)
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        pnl = pnl_scenarios(book, prices, returns)
        var, es = var_es(pnl)
        times.append(time.perf_counter() - t0)
        assert var.shape == es.shape == (n_accounts,)
    return float(np.median(times) * 1e3)


def main() -> None:
    rows: list[tuple[str, str, str]] = []
    scale = 0.25 if QUICK else 1.0
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        ledger = setup_books(url)
        next_id = 1
        for batch, total in (
            (1, int(400 * scale)),
            (100, int(10_000 * scale)),
            (8_000, int(40_000 * scale) or 8_000),
        ):
            rate = bench_batched(ledger, batch, max(total, batch), next_id)
            next_id += max(total, batch)
            rows.append(("SQLite", f"create_transfers, batch {batch:,}", f"{rate:,.0f} transfers/s"))
        rate = bench_naive_orm(url, int(400 * scale), 5 * 10**11)
        rows.append(("SQLite", "naive ORM, one commit per transfer", f"{rate:,.0f} transfers/s"))
        ledger.engine.dispose()
    pg = pg_schema()
    if pg is not None:
        schema, admin = pg
        url = f"{PG_URL}?options=-csearch_path%3D{schema}"
        try:
            setup_books(url).engine.dispose()
            for clients in (1, 8):
                rate = bench_pg_clients(url, clients, batches=int(8 * scale) or 2, batch=1_000)
                rows.append(
                    ("PostgreSQL", f"{clients} client(s), batches of 1,000", f"{rate:,.0f} transfers/s")
                )
            rate = bench_naive_orm(url, int(400 * scale), 6 * 10**11)
            rows.append(("PostgreSQL", "naive ORM, one commit per transfer", f"{rate:,.0f} transfers/s"))
            from ledger.eod import reconcile

            ok = reconcile(make_engine(url)).ok
            rows.append(("PostgreSQL", "end-of-day reconcile after the runs", "ok" if ok else "BREAKS"))
        finally:
            from sqlalchemy import text

            with admin.begin() as conn:  # type: ignore[attr-defined]
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    rows.append(
        ("numpy", "margin tick, 100k accounts × 10 positions", f"{bench_margin_tick():.1f} ms (median of 7)")
    )
    rows.append(
        ("numpy+scipy", "VaR99/ES97.5, 10k accounts, 250 days", f"{bench_var():.1f} ms (median of 5)")
    )
    width = max(len(r[1]) for r in rows)
    print(f"| store | workload{' ' * (width - 8)} | result |")
    print(f"|---|{'-' * (width + 1)}|---|")
    for store, what, result in rows:
        print(f"| {store} | {what:<{width}} | {result} |")


if __name__ == "__main__":
    main()
