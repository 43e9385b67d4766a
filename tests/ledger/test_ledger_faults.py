"""Faults: SIGKILL in the middle of a large linked batch, and concurrent writers on PostgreSQL."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import textwrap
import threading
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import Engine

from ledger.domain import Account, AccountFlags, Transfer, TransferFlags, TransferResult
from ledger.eod import reconcile
from ledger.service import Ledger
from ledger.storage import make_engine
from tests.conftest import REPO_ROOT
from tests.ledger.ledger_support import fresh_sqlite

R = TransferResult
DMNEC = int(AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS)
CHAIN = 4_000

CHILD = textwrap.dedent(
    """
    import sys, time
    from sqlalchemy import event
    from ledger.storage import make_engine
    from ledger.service import Ledger
    from ledger.domain import Transfer, TransferFlags

    url, stage, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    engine = make_engine(url)

    def stop_here():
        print("KILLME", flush=True)
        time.sleep(120)

    if stage == "update":
        @event.listens_for(engine, "before_cursor_execute")
        def hook(conn, cursor, statement, params, context, executemany):
            if statement.lstrip().upper().startswith("UPDATE LEDGER_ACCOUNTS"):
                stop_here()
    elif stage == "commit":
        @event.listens_for(engine, "commit")
        def hook(conn):
            stop_here()

    batch = [
        Transfer(10_000 + i, 1 + i % 3, 4, 1 + i % 5, 1, 1, flags=1 if i < n - 1 else 0)
        for i in range(n)
    ]
    results = Ledger(engine).create_transfers(batch)
    print("DONE", sorted(set(r.value for r in results)), flush=True)
    """
)


def chain() -> list[Transfer]:
    linked = int(TransferFlags.LINKED)
    return [
        Transfer(10_000 + i, 1 + i % 3, 4, 1 + i % 5, 1, 1, flags=linked if i < CHAIN - 1 else 0)
        for i in range(CHAIN)
    ]


def open_books(url: str) -> Ledger:
    ledger = Ledger(make_engine(url))
    accounts = [
        Account(1, 1, 10, DMNEC),
        Account(2, 1, 10, DMNEC),
        Account(3, 1, 10, DMNEC),
        Account(4, 1, 20),
    ]
    ledger.create_accounts(accounts)
    ledger.create_transfers([Transfer(1 + i, 4, 1 + i, 50_000, 1, 1) for i in range(3)])
    return ledger


def kill_mid_batch(url: str, stage: str) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, url, stage, str(CHAIN)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    line = child.stdout.readline()
    assert line.strip() == "KILLME", (line, child.stderr.read() if child.stderr else "")
    child.send_signal(signal.SIGKILL)
    assert child.wait(timeout=60) == -signal.SIGKILL


def check_crash_recovery(url: str, engine: Engine, stage: str) -> None:
    ledger = open_books(url)
    before = [a.balances() for a in ledger.lookup_accounts([1, 2, 3, 4])]
    kill_mid_batch(url, stage)
    assert ledger.lookup_transfers([t.id for t in chain()]) == []  # no partial chain
    assert [a.balances() for a in ledger.lookup_accounts([1, 2, 3, 4])] == before
    assert reconcile(engine).ok
    assert ledger.create_transfers(chain()) == [R.OK] * CHAIN
    assert ledger.create_transfers(chain()) == [R.EXISTS] * CHAIN
    moved = sum(t.amount_minor for t in chain())
    assert ledger.lookup_accounts([4])[0].credits_posted == moved
    report = reconcile(engine)
    assert report.ok, report.breaks[:3]
    assert report.transfers_replayed == CHAIN + 3


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["update", "commit"])
def test_sigkill_mid_linked_batch_sqlite(migrated_template: Path, tmp_path: Path, stage: str) -> None:
    engine, url = fresh_sqlite(migrated_template, tmp_path)
    check_crash_recovery(url, engine, stage)


@pytest.mark.slow
@pytest.mark.postgres
def test_sigkill_mid_linked_batch_postgres(pg_url: str) -> None:
    check_crash_recovery(pg_url, make_engine(pg_url), "update")


@pytest.mark.slow
@pytest.mark.postgres
def test_eight_concurrent_writers_on_hot_accounts(pg_url: str) -> None:
    """Money conserved, no limit passed, no lost update, each transfer id applied at most once."""
    ledger = Ledger(make_engine(pg_url, pool_size=10))
    hot = [Account(1, 1, 10, DMNEC), Account(2, 1, 10, DMNEC), Account(3, 1, 10, DMNEC), Account(4, 1, 20)]
    ledger.create_accounts(hot)
    assert ledger.create_transfers([Transfer(1 + i, 4, 1 + i, 2_000, 1, 1) for i in range(3)]) == [R.OK] * 3
    outcomes: list[list[tuple[Transfer, TransferResult]]] = [[] for _ in range(8)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def writer(k: int) -> None:
        rng = random.Random(k)
        try:
            barrier.wait()
            for step in range(25):
                batch = []
                for j in range(rng.randint(1, 6)):
                    # ids 100..399 are shared by all writers: the same id races with the same
                    # body (amount fixed by id) and with a different body (debit account differs)
                    tid = rng.randint(100, 399) if rng.random() < 0.5 else 1_000_000 * (k + 1) + step * 10 + j
                    dr, cr = rng.sample([1, 2, 3, 4], 2)
                    amount = tid % 97 + 1 if tid < 400 else rng.randint(1, 900)
                    flags = int(TransferFlags.LINKED) if rng.random() < 0.3 else 0
                    batch.append(Transfer(tid, dr, cr, amount, 1, 1, flags=flags))
                batch[-1] = replace(batch[-1], flags=0)  # close the last chain
                outcomes[k].extend(zip(batch, ledger.create_transfers(batch), strict=True))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    report = reconcile(ledger.engine)
    assert report.ok, report.breaks[:5]  # trial balance, replay equality (no lost update), limits
    oks: dict[int, int] = {}
    for results in outcomes:
        for t, r in results:
            if r == R.OK:
                oks[t.id] = oks.get(t.id, 0) + 1
    assert oks and max(oks.values()) == 1  # no id applied twice, even when raced
    stored = {t.id: t for t in ledger.lookup_transfers(sorted(oks))}
    assert set(stored) == set(oks)
    cash = ledger.lookup_accounts([1, 2, 3])
    assert all(a.debits_posted <= a.credits_posted for a in cash)
    assert (
        sum(a.credits_posted - a.debits_posted for a in cash) + ledger.lookup_accounts([4])[0].balance_minor
        == 0
    )
