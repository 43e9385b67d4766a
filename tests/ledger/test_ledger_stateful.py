"""Random sequences of ledger operations on a real SQLite file keep every invariant.

After every step: Σ debits = Σ credits per ledger, stored balances equal the replay of the
transfers, no limit is passed (all three via ``reconcile``); every ``ok`` transfer is stored
with the body that was sent, no refused transfer is stored, a linked chain is stored whole
or not at all, and a batch with no ``ok`` result leaves every balance unchanged.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from ledger.domain import Account, AccountFlags, Transfer, TransferFlags, TransferResult
from ledger.eod import reconcile
from ledger.service import Ledger
from tests.ledger.ledger_support import fresh_sqlite

R = TransferResult
DMNEC = int(AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS)
CMNED = int(AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS)
ACCOUNTS = [
    Account(1, 1, 10, DMNEC),
    Account(2, 1, 10, DMNEC),
    Account(3, 1, 11, CMNED),
    Account(4, 1, 20),
    Account(5, 2, 10, DMNEC),
    Account(6, 2, 20),
]
FLAG_CHOICES = [0, 0, 0, 1, 1, 2, 3, 4, 8, 5, 9, 6, 16]

transfer_st = st.builds(
    Transfer,
    id=st.integers(-1, 40),
    debit_account_id=st.sampled_from([0, 1, 2, 3, 4, 5, 6, 99]),
    credit_account_id=st.sampled_from([0, 1, 2, 3, 4, 5, 6, 99]),
    amount_minor=st.integers(-5, 400),
    ledger=st.sampled_from([0, 1, 1, 1, 2]),
    code=st.sampled_from([0, 1, 1, 7]),
    flags=st.sampled_from(FLAG_CHOICES),
    pending_id=st.integers(0, 40),
    timeout_s=st.sampled_from([0, 0, 1, 3, -1]),
    user_data=st.integers(0, 3),
)


class LedgerMachine(RuleBasedStateMachine):
    template: Path
    workdir: Path

    def __init__(self) -> None:
        super().__init__()
        self.engine, _ = fresh_sqlite(self.template, self.workdir)
        self.clock_ns = 1_000 * 10**9
        self.ledger = Ledger(self.engine, clock=lambda: self.clock_ns)
        self.batches: list[list[Transfer]] = []

    def teardown(self) -> None:
        self.engine.dispose()

    @initialize()
    def fund(self) -> None:
        self.ledger.create_accounts(ACCOUNTS)
        funding = [
            Transfer(1000, 4, 1, 500, 1, 1),
            Transfer(1001, 4, 2, 300, 1, 1),
            Transfer(1002, 6, 5, 200, 2, 1),
        ]
        funding.append(Transfer(1003, 3, 4, 250, 1, 1))
        assert self.ledger.create_transfers(funding) == [R.OK] * 4

    def balances(self) -> dict[int, tuple[int, int, int, int]]:
        return {a.id: a.balances() for a in self.ledger.lookup_accounts([a.id for a in ACCOUNTS])}

    def submit(self, batch: list[Transfer]) -> None:
        self.ledger.expire_pending()
        before_stored = {t.id: t for t in self.ledger.lookup_transfers([t.id for t in batch])}
        before = self.balances()
        results = self.ledger.create_transfers(batch)
        after_stored = {t.id: t for t in self.ledger.lookup_transfers([t.id for t in batch])}
        assert len(results) == len(batch)
        for t, r in zip(batch, results, strict=True):
            if r == R.OK:
                s = after_stored[t.id]
                assert t.id not in before_stored
                if not t.flags & (TransferFlags.POST_PENDING_TRANSFER | TransferFlags.VOID_PENDING_TRANSFER):
                    assert s.body() == t.body()
            elif r == R.EXISTS:
                assert t.id in before_stored
            elif t.id not in before_stored and all(
                o.id != t.id or rr != R.OK for o, rr in zip(batch, results, strict=True)
            ):
                assert t.id not in after_stored, (t, r)
        # a linked chain: all its new members stored, or none
        start = 0
        for i, t in enumerate(batch):
            if not t.flags & TransferFlags.LINKED or i == len(batch) - 1:
                chain = results[start : i + 1]
                if len(chain) > 1:
                    assert all(r in (R.OK, R.EXISTS) for r in chain) or R.OK not in chain, chain
                start = i + 1
        if R.OK not in results:
            assert self.balances() == before
        self.batches.append(batch)

    @rule(batch=st.lists(transfer_st, min_size=1, max_size=6))
    def random_batch(self, batch: list[Transfer]) -> None:
        self.submit(batch)

    @rule(amount=st.integers(1, 400), pid=st.integers(41, 60), timeout=st.sampled_from([0, 1, 2]))
    def reserve(self, amount: int, pid: int, timeout: int) -> None:
        self.submit([Transfer(pid, 1, 4, amount, 1, 1, flags=int(TransferFlags.PENDING), timeout_s=timeout)])

    @rule(pid=st.integers(41, 60), tid=st.integers(61, 80), amount=st.integers(0, 400), void=st.booleans())
    def settle(self, pid: int, tid: int, amount: int, void: bool) -> None:
        flag = TransferFlags.VOID_PENDING_TRANSFER if void else TransferFlags.POST_PENDING_TRANSFER
        self.submit([Transfer(tid, 0, 0, 0 if void else amount, 0, 0, flags=int(flag), pending_id=pid)])

    @rule(seconds=st.integers(0, 3))
    def tick(self, seconds: int) -> None:
        self.clock_ns += seconds * 10**9
        self.ledger.expire_pending()

    @rule(data=st.data())
    def retry(self, data: st.DataObject) -> None:
        if self.batches:
            self.submit(data.draw(st.sampled_from(self.batches)))

    @invariant()
    def books_reconcile(self) -> None:
        report = reconcile(self.engine)
        assert report.ok, report.breaks
        assert all(r.debits_posted == r.credits_posted for r in report.trial_balance)


@pytest.mark.slow
def test_random_operation_sequences_keep_every_invariant(migrated_template: Path, tmp_path: Path) -> None:
    LedgerMachine.template = migrated_template
    LedgerMachine.workdir = tmp_path
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=25,
            stateful_step_count=15,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            database=None,
        ),
    )


pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.NonInteractiveExampleWarning")
