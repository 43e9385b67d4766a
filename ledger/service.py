"""The ledger's service layer: what the CLI, the HTTP API and the margin operations call.

``Ledger`` wraps each call in one transaction (a unit of work) on the service database.
The functions ``create_accounts_in`` and ``create_transfers_in`` do the same work inside a
transaction the caller already holds, so a margin operation can open accounts, move money
and write its own rows atomically.

Timestamps come from the ledger clock (``SqlLedgerRepository.reserve_timestamps``): strictly
increasing across commits, in commit order, whatever the wall clock does.

Every commit re-checks the invariants of the accounts it touched (debits equal credits per
ledger for the batch, no limit passed) and refuses to commit otherwise: a bug in the rules
becomes an exception, never a silent imbalance.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import replace

from sqlalchemy import Engine

from ledger.domain import (
    MAX_BATCH,
    Account,
    AccountFlags,
    AccountResult,
    Pending,
    Transfer,
    TransferFlags,
    TransferResult,
    apply_accounts,
    apply_batch,
    expire,
    ids_named,
)
from ledger.repository import SqlLedgerRepository
from ledger.unit_of_work import SqlUnitOfWork, run_in_transaction


class LedgerInvariantError(AssertionError):
    """A batch would have broken double entry or a limit: a bug, never bad input."""


def create_accounts_in(repo: SqlLedgerRepository, new: Sequence[Account], now_ns: int) -> list[AccountResult]:
    if len(new) > MAX_BATCH:
        raise ValueError(f"a batch holds at most {MAX_BATCH} accounts, got {len(new)}")
    base = repo.reserve_timestamps(now_ns, len(new)) if new else now_ns  # the clock first: see below
    existing = repo.load_accounts((a.id for a in new), for_update=True)
    known = set(existing)
    stamped = [replace(a, timestamp_ns=base + i + 1) for i, a in enumerate(new)]
    results = apply_accounts(stamped, existing)
    created = {a.id: existing[a.id] for a, r in zip(stamped, results, strict=True) if r is AccountResult.OK}
    repo.insert_accounts([a for aid, a in created.items() if aid not in known])
    return results


def _load_state(
    repo: SqlLedgerRepository, batch: Sequence[Transfer], now_ns: int
) -> tuple[dict[int, Account], dict[int, Transfer], dict[int, Pending], list[Transfer]]:
    account_ids, transfer_ids = ids_named(batch)
    due = repo.due_pendings(now_ns)
    locked: dict[int, Account] = {}
    for _round in range(4):
        existing = repo.load_transfers(transfer_ids)
        wanted = set(account_ids)
        pending_ids = {t.id for t in due}
        for t in existing.values():
            if t.flags & TransferFlags.PENDING:
                pending_ids.add(t.id)
                wanted.update((t.debit_account_id, t.credit_account_id))
        for t in due:
            wanted.update((t.debit_account_id, t.credit_account_id))
        missing = wanted - set(locked)
        if _round and not missing:
            return locked, existing, repo.load_pendings(pending_ids), due
        locked.update(repo.load_accounts(missing, for_update=True))
        if not repo.locking:  # SQLite: the database lock already makes the first read stable
            return locked, existing, repo.load_pendings(pending_ids), due
    raise AssertionError("the set of accounts to lock did not settle")


def _check_invariants(before: dict[int, tuple[int, int, int, int]], accounts: dict[int, Account]) -> None:
    net: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for aid, (dp, dpo, cp, cpo) in before.items():
        a = accounts[aid]
        net[a.ledger][0] += (a.debits_posted - dpo) - (a.credits_posted - cpo)
        net[a.ledger][1] += (a.debits_pending - dp) - (a.credits_pending - cp)
        if min(a.balances()) < 0:
            raise LedgerInvariantError(f"account {aid} has a negative balance {a.balances()}")
        if (
            a.flags & AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
            and a.debits_pending + a.debits_posted > a.credits_posted
        ):
            raise LedgerInvariantError(f"account {aid}: debits exceed credits")
        if (
            a.flags & AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS
            and a.credits_pending + a.credits_posted > a.debits_posted
        ):
            raise LedgerInvariantError(f"account {aid}: credits exceed debits")
    for ledger, (posted, pend) in net.items():
        if posted or pend:
            raise LedgerInvariantError(
                f"ledger {ledger}: batch is unbalanced by {posted} posted, {pend} pending"
            )


def create_transfers_in(
    repo: SqlLedgerRepository, batch: Sequence[Transfer], now_ns: int
) -> list[TransferResult]:
    """Apply ``batch`` inside the caller's transaction; write what succeeded; return the results."""
    if len(batch) > MAX_BATCH:
        raise ValueError(f"a batch holds at most {MAX_BATCH} transfers, got {len(batch)}")
    # The clock row is locked before any shared (platform) account, so writers queue on it in
    # one order and never deadlock with each other over the clock.
    base = repo.reserve_timestamps(now_ns, len(batch)) if batch else now_ns
    accounts, existing, pendings, due = _load_state(repo, batch, now_ns)
    before = {aid: a.balances() for aid, a in accounts.items()}
    expired = expire(due, accounts, pendings)
    outcome = apply_batch(batch, accounts, existing, pendings, base)
    assert all(base < t.timestamp_ns <= base + len(batch) for t in outcome.created), (
        "stamped outside the reservation"
    )
    touched = outcome.touched_accounts | {a for t in due for a in (t.debit_account_id, t.credit_account_id)}
    _check_invariants({aid: before[aid] for aid in touched}, accounts)
    repo.insert_transfers(outcome.created)
    repo.insert_pendings(outcome.new_pendings.values())
    changed = {p.transfer_id: p for p in expired}
    changed.update(outcome.changed_pendings)
    repo.update_pendings(changed.values())
    repo.update_balances(accounts[aid] for aid in sorted(touched) if accounts[aid].balances() != before[aid])
    return outcome.results


class Ledger:
    """The ledger service over one database (an ``Engine`` from ``ledger.storage.make_engine``).

    ``clock`` returns nanoseconds since the epoch; tests pass a fake one to drive timeouts.
    """

    def __init__(self, engine: Engine, clock: Callable[[], int] = time.time_ns) -> None:
        self.engine = engine
        self.clock = clock

    def create_accounts(self, new: Sequence[Account]) -> list[AccountResult]:
        """One result per account: ``ok``, ``exists`` (same body) or why it was refused."""
        return run_in_transaction(self.engine, lambda uow: create_accounts_in(uow.ledger, new, self.clock()))

    def create_transfers(self, batch: Sequence[Transfer]) -> list[TransferResult]:
        """One result per transfer, TigerBeetle-style; only ``ok`` transfers moved money."""
        return run_in_transaction(
            self.engine, lambda uow: create_transfers_in(uow.ledger, batch, self.clock())
        )

    def lookup_accounts(self, ids: Sequence[int]) -> list[Account]:
        """Accounts found, in the order asked (unknown ids are left out)."""
        found = run_in_transaction(self.engine, lambda uow: uow.ledger.load_accounts(ids))
        return [found[i] for i in ids if i in found]

    def lookup_transfers(self, ids: Sequence[int]) -> list[Transfer]:
        found = run_in_transaction(self.engine, lambda uow: uow.ledger.load_transfers(ids))
        return [found[i] for i in ids if i in found]

    def account_transfers(self, account_id: int, limit: int = 100) -> list[Transfer]:
        """The newest ``limit`` transfers that debit or credit ``account_id`` (at most 8190)."""
        limit = max(1, min(limit, MAX_BATCH))
        return run_in_transaction(self.engine, lambda uow: uow.ledger.account_transfers(account_id, limit))

    def expire_pending(self) -> int:
        """Release every pending transfer whose timeout passed; return how many."""

        def work(uow: SqlUnitOfWork) -> int:
            repo = uow.ledger
            due = repo.due_pendings(self.clock())
            if not due:
                return 0
            accounts = repo.load_accounts(
                {a for t in due for a in (t.debit_account_id, t.credit_account_id)}, for_update=True
            )
            pendings = repo.load_pendings(t.id for t in due)
            changed = expire(due, accounts, pendings)
            repo.update_pendings(changed)
            repo.update_balances(accounts.values())
            return len(changed)

        return run_in_transaction(self.engine, work)
