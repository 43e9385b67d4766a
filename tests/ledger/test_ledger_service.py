"""The ledger service on a real SQLite database: results, persistence, timeouts, reconciliation."""

from __future__ import annotations

import itertools

from sqlalchemy import Engine, text, update

from ledger.domain import Account, AccountFlags, AccountResult, Transfer, TransferFlags, TransferResult
from ledger.eod import reconcile
from ledger.service import Ledger
from ledger.storage import accounts as accounts_table

R = TransferResult
DMNEC = int(AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS)


class FakeClock:
    def __init__(self, ns: int = 1_700_000_000 * 10**9) -> None:
        self.ns = ns

    def __call__(self) -> int:
        return self.ns


def books(engine: Engine, clock: FakeClock | None = None) -> Ledger:
    ledger = Ledger(engine, clock or FakeClock())
    assert (
        ledger.create_accounts([Account(1, 1, 10, DMNEC), Account(2, 1, 20), Account(3, 2, 20)])
        == [AccountResult.OK] * 3
    )
    assert ledger.create_transfers([Transfer(100, 2, 1, 1_000, 1, 1)]) == [R.OK]
    return ledger


def balances(ledger: Ledger, *ids: int) -> list[tuple[int, int, int, int]]:
    return [a.balances() for a in ledger.lookup_accounts(list(ids))]


def test_rejections_are_stored_nowhere(engine: Engine) -> None:
    ledger = books(engine)
    before = balances(ledger, 1, 2, 3)
    results = ledger.create_transfers(
        [
            Transfer(1, 1, 2, 0, 1, 1),
            Transfer(2, 1, 2, -3, 1, 1),
            Transfer(3, 1, 99, 5, 1, 1),
            Transfer(4, 1, 3, 5, 1, 1),
            Transfer(5, 1, 2, 1_001, 1, 1),
            Transfer(100, 2, 1, 999, 1, 1),
        ]
    )
    assert results == [
        R.AMOUNT_MUST_BE_POSITIVE,
        R.AMOUNT_MUST_BE_POSITIVE,
        R.CREDIT_ACCOUNT_NOT_FOUND,
        R.ACCOUNTS_MUST_HAVE_THE_SAME_LEDGER,
        R.EXCEEDS_CREDITS,
        R.EXISTS_WITH_DIFFERENT_BODY,
    ]
    assert balances(ledger, 1, 2, 3) == before
    assert ledger.lookup_transfers([1, 2, 3, 4, 5]) == []
    assert reconcile(engine).ok


def test_retry_of_a_committed_batch_moves_nothing_twice(engine: Engine) -> None:
    ledger = books(engine)
    batch = [
        Transfer(10 + i, 1, 2, 7, 1, 1, flags=int(TransferFlags.LINKED) if i < 4 else 0) for i in range(5)
    ]
    assert ledger.create_transfers(batch) == [R.OK] * 5
    assert ledger.create_transfers(batch) == [R.EXISTS] * 5
    assert balances(ledger, 1) == [(0, 35, 0, 1_000)]
    stored = ledger.lookup_transfers([10])[0]
    assert stored.amount_minor == 7 and stored.timestamp_ns > 0
    history = ledger.account_transfers(1, limit=3)
    assert len(history) == 3 and all(1 in (t.debit_account_id, t.credit_account_id) for t in history)


def test_linked_chain_is_all_or_nothing_in_the_database(engine: Engine) -> None:
    ledger = books(engine)
    linked = int(TransferFlags.LINKED)
    results = ledger.create_transfers(
        [
            Transfer(20, 1, 2, 600, 1, 1, flags=linked),
            Transfer(21, 1, 2, 600, 1, 1),
            Transfer(22, 1, 2, 1, 1, 1),
        ]
    )
    assert results == [R.LINKED_EVENT_FAILED, R.EXCEEDS_CREDITS, R.OK]
    assert ledger.lookup_transfers([20, 21]) == []
    assert balances(ledger, 1) == [(0, 1, 0, 1_000)]


def test_pending_survives_commit_then_posts_and_expires(engine: Engine) -> None:
    clock = FakeClock()
    ledger = books(engine, clock)
    pend = int(TransferFlags.PENDING)
    assert ledger.create_transfers([Transfer(30, 1, 2, 300, 1, 1, flags=pend, timeout_s=60)]) == [R.OK]
    assert ledger.create_transfers([Transfer(31, 1, 2, 300, 1, 1, flags=pend, timeout_s=60)]) == [R.OK]
    assert ledger.create_transfers([Transfer(32, 1, 2, 401, 1, 1)]) == [R.EXCEEDS_CREDITS]
    post = Transfer(33, 0, 0, 120, 0, 0, flags=int(TransferFlags.POST_PENDING_TRANSFER), pending_id=30)
    assert ledger.create_transfers([post]) == [R.OK]
    assert balances(ledger, 1) == [(300, 120, 0, 1_000)]
    clock.ns += 61 * 10**9
    late = Transfer(34, 0, 0, 0, 0, 0, flags=int(TransferFlags.POST_PENDING_TRANSFER), pending_id=31)
    assert ledger.create_transfers([late]) == [R.PENDING_TRANSFER_EXPIRED]
    assert balances(ledger, 1) == [(0, 120, 0, 1_000)]  # the expiry itself was committed
    assert ledger.expire_pending() == 0
    report = reconcile(engine)
    assert report.ok, report.breaks
    by_ledger = {row.ledger: row for row in report.trial_balance}
    assert by_ledger[1].debits_posted == by_ledger[1].credits_posted == 1_120


def test_expire_pending_releases_without_a_batch(engine: Engine) -> None:
    clock = FakeClock()
    ledger = books(engine, clock)
    pend = int(TransferFlags.PENDING)
    ledger.create_transfers([Transfer(40, 1, 2, 500, 1, 1, flags=pend, timeout_s=1)])
    clock.ns += 2 * 10**9
    assert ledger.expire_pending() == 1
    assert balances(ledger, 1, 2) == [(0, 0, 0, 1_000), (0, 1_000, 0, 0)]
    assert reconcile(engine).ok


def test_eod_finds_a_tampered_balance_and_a_limit_breach(engine: Engine) -> None:
    ledger = books(engine)
    ledger.create_transfers([Transfer(50, 1, 2, 10, 1, 1)])
    assert reconcile(engine).ok
    with engine.begin() as conn:
        conn.execute(update(accounts_table).where(accounts_table.c.id == 1).values(debits_posted=5_000))
    report = reconcile(engine)
    kinds = sorted({b.kind for b in report.breaks})
    assert kinds == ["limit", "replay", "trial_balance"]
    assert any(b.subject == 1 for b in report.breaks if b.kind == "replay")


def test_eod_finds_a_deleted_transfer(engine: Engine) -> None:
    ledger = books(engine)
    ledger.create_transfers([Transfer(60, 1, 2, 10, 1, 1)])
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM ledger_transfers WHERE id = 60"))
    report = reconcile(engine)
    assert {(b.kind, b.subject) for b in report.breaks if b.kind == "replay"} == {
        ("replay", 1),
        ("replay", 2),
    }


def test_timestamps_increase_strictly_across_commits_even_when_the_clock_does_not(engine: Engine) -> None:
    """A later commit is never stamped at or before an earlier one (seen: the clock stepping back)."""
    clock = FakeClock()
    ledger = books(engine, clock)  # accounts and transfer 100 stamped from clock.ns
    ledger.create_transfers([Transfer(101, 2, 1, 1, 1, 1), Transfer(102, 2, 1, 1, 1, 1)])
    clock.ns -= 10**9  # the wall clock steps back a second (NTP), or a second process lags
    ledger.create_transfers([Transfer(103, 2, 1, 1, 1, 1)])
    clock.ns += 10**9  # and forward again: the same instant as the first commits
    ledger.create_transfers([Transfer(104, 2, 1, 1, 1, 1)])
    stamps = [t.timestamp_ns for t in ledger.lookup_transfers([100, 101, 102, 103, 104])]
    assert all(b > a for a, b in itertools.pairwise(stamps)), stamps
    accounts = ledger.lookup_accounts([1, 2, 3])
    assert max(a.timestamp_ns for a in accounts) < stamps[0]  # one clock for accounts and transfers
