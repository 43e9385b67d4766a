"""The pure batch rules: one specific result code per rejection, and nothing moves on a rejection."""

from __future__ import annotations

import copy

import pytest

from ledger.domain import (
    MAX_INT64,
    Account,
    AccountFlags,
    AccountResult,
    Pending,
    PendingStatus,
    Transfer,
    TransferFlags,
    TransferResult,
    apply_accounts,
    apply_batch,
    expire,
    ids_named,
)

R = TransferResult
CASH = 1  # customer cash: cannot be overdrawn
BANK = 2  # no limits
LOAN = 3  # cannot be repaid past zero
OTHER = 4  # on ledger 2


def state() -> dict[int, Account]:
    return {
        CASH: Account(CASH, 1, 10, int(AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS), credits_posted=1000),
        BANK: Account(BANK, 1, 20, debits_posted=1000),
        LOAN: Account(LOAN, 1, 11, int(AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS), debits_posted=300),
        OTHER: Account(OTHER, 2, 20),
    }


def run(
    batch: list[Transfer], accounts: dict[int, Account] | None = None, existing=None, pendings=None, now=0
):
    accounts = state() if accounts is None else accounts
    existing = {} if existing is None else existing
    pendings = {} if pendings is None else pendings
    return apply_batch(batch, accounts, existing, pendings, now), accounts, existing, pendings


def t(id: int, dr: int = CASH, cr: int = BANK, amount: int = 10, **kw: int) -> Transfer:
    return Transfer(id, dr, cr, amount, kw.pop("ledger", 1), kw.pop("code", 1), **kw)


@pytest.mark.parametrize(
    ("transfer", "code"),
    [
        (t(0), R.ID_MUST_BE_POSITIVE),
        (t(-5), R.ID_MUST_BE_POSITIVE),
        (t(1, amount=0), R.AMOUNT_MUST_BE_POSITIVE),
        (t(1, amount=-7), R.AMOUNT_MUST_BE_POSITIVE),
        (t(1, dr=99), R.DEBIT_ACCOUNT_NOT_FOUND),
        (t(1, cr=99), R.CREDIT_ACCOUNT_NOT_FOUND),
        (t(1, dr=0), R.DEBIT_ACCOUNT_ID_MUST_BE_POSITIVE),
        (t(1, cr=-1), R.CREDIT_ACCOUNT_ID_MUST_BE_POSITIVE),
        (t(1, dr=BANK, cr=BANK), R.ACCOUNTS_MUST_BE_DIFFERENT),
        (t(1, cr=OTHER), R.ACCOUNTS_MUST_HAVE_THE_SAME_LEDGER),
        (t(1, ledger=2), R.TRANSFER_MUST_HAVE_THE_SAME_LEDGER_AS_ACCOUNTS),
        (t(1, ledger=0), R.LEDGER_MUST_BE_POSITIVE),
        (t(1, code=0), R.CODE_MUST_BE_POSITIVE),
        (t(1, amount=1001), R.EXCEEDS_CREDITS),
        (t(1, dr=BANK, cr=LOAN, amount=301), R.EXCEEDS_DEBITS),
        (t(1, flags=64), R.RESERVED_FLAG),
        (
            t(1, flags=int(TransferFlags.PENDING | TransferFlags.VOID_PENDING_TRANSFER)),
            R.FLAGS_ARE_MUTUALLY_EXCLUSIVE,
        ),
        (t(1, timeout_s=5), R.TIMEOUT_RESERVED_FOR_PENDING_TRANSFER),
        (t(1, flags=int(TransferFlags.PENDING), timeout_s=-1), R.TIMEOUT_MUST_NOT_BE_NEGATIVE),
        (t(1, pending_id=3), R.PENDING_ID_MUST_BE_ZERO),
        (t(1, amount=MAX_INT64 + 1), R.VALUE_OUT_OF_RANGE),
        (t(1, dr=BANK, cr=OTHER, ledger=1, amount=MAX_INT64), R.ACCOUNTS_MUST_HAVE_THE_SAME_LEDGER),
        (t(1, flags=int(TransferFlags.POST_PENDING_TRANSFER), pending_id=0), R.PENDING_ID_MUST_BE_POSITIVE),
        (t(1, flags=int(TransferFlags.POST_PENDING_TRANSFER), pending_id=1), R.PENDING_ID_MUST_BE_DIFFERENT),
        (t(1, flags=int(TransferFlags.VOID_PENDING_TRANSFER), pending_id=77), R.PENDING_TRANSFER_NOT_FOUND),
    ],
)
def test_each_rejection_has_its_code_and_moves_nothing(transfer: Transfer, code: TransferResult) -> None:
    outcome, accounts, existing, _ = run([transfer])
    assert outcome.results == [code]
    assert accounts == state()
    assert existing == {} and outcome.created == []


def test_overflow_is_refused() -> None:
    accounts = state()
    accounts[BANK].debits_posted = MAX_INT64 - 5
    outcome, after, _, _ = run([t(1, dr=BANK, cr=CASH, amount=6)], accounts)
    assert outcome.results == [R.OVERFLOWS_DEBITS]
    assert after[BANK].debits_posted == MAX_INT64 - 5


def test_a_posted_transfer_moves_exactly_its_amount() -> None:
    outcome, accounts, existing, _ = run([t(7, amount=250)], now=1000)
    assert outcome.results == [R.OK]
    assert accounts[CASH].debits_posted == 250 and accounts[BANK].credits_posted == 250
    assert existing[7].timestamp_ns == 1001  # server time, counted up inside the batch


def test_limit_counts_earlier_transfers_of_the_same_batch() -> None:
    outcome, accounts, _, _ = run([t(1, amount=600), t(2, amount=400), t(3, amount=1)])
    assert outcome.results == [R.OK, R.OK, R.EXCEEDS_CREDITS]
    assert accounts[CASH].debits_posted == 1000


def test_idempotency_same_body_exists_different_body_refused() -> None:
    _first, accounts, existing, pendings = run([t(5, amount=10)])
    again = apply_batch(
        [t(5, amount=10), t(5, amount=11), t(5, amount=10, code=2)], accounts, existing, pendings, 9
    )
    assert again.results == [R.EXISTS, R.EXISTS_WITH_DIFFERENT_BODY, R.EXISTS_WITH_DIFFERENT_BODY]
    assert accounts[CASH].debits_posted == 10  # moved once
    assert again.created == []


def test_linked_chain_fails_as_a_whole_and_restores_state() -> None:
    linked = int(TransferFlags.LINKED)
    batch = [
        t(1, amount=100, flags=linked),
        t(2, dr=BANK, cr=LOAN, amount=50, flags=linked),
        t(3, amount=5000),
        t(4),
    ]
    outcome, accounts, existing, _ = run(batch)
    assert outcome.results == [R.LINKED_EVENT_FAILED, R.LINKED_EVENT_FAILED, R.EXCEEDS_CREDITS, R.OK]
    expected = state()
    expected[CASH].debits_posted = 10
    expected[BANK].credits_posted = 10
    assert accounts == expected
    assert set(existing) == {4}


def test_chain_left_open_at_the_end_of_the_batch_fails() -> None:
    linked = int(TransferFlags.LINKED)
    outcome, accounts, _, _ = run([t(1), t(2, flags=linked), t(3, flags=linked)])
    assert outcome.results == [R.OK, R.LINKED_EVENT_FAILED, R.LINKED_EVENT_CHAIN_OPEN]
    assert accounts[CASH].debits_posted == 10


def test_two_phase_partial_post_releases_the_rest() -> None:
    pend = t(1, amount=400, flags=int(TransferFlags.PENDING))
    _outcome, accounts, existing, pendings = run([pend])
    assert accounts[CASH].debits_pending == 400
    # the reservation counts against the limit
    blocked = apply_batch([t(2, amount=601)], accounts, existing, pendings, 5)
    assert blocked.results == [R.EXCEEDS_CREDITS]
    post = Transfer(3, 0, 0, 150, 0, 0, flags=int(TransferFlags.POST_PENDING_TRANSFER), pending_id=1)
    done = apply_batch([post], accounts, existing, pendings, 6)
    assert done.results == [R.OK]
    assert accounts[CASH].debits_pending == 0 and accounts[CASH].debits_posted == 150
    assert accounts[BANK].credits_posted == 150 and accounts[BANK].credits_pending == 0
    stored = existing[3]
    assert (stored.debit_account_id, stored.credit_account_id, stored.ledger, stored.code) == (
        CASH,
        BANK,
        1,
        1,
    )
    assert pendings[1].status == PendingStatus.POSTED
    again = apply_batch([post], accounts, existing, pendings, 7)
    assert again.results == [R.EXISTS]
    other = Transfer(4, 0, 0, 0, 0, 0, flags=int(TransferFlags.VOID_PENDING_TRANSFER), pending_id=1)
    assert apply_batch([other], accounts, existing, pendings, 8).results == [
        R.PENDING_TRANSFER_ALREADY_POSTED
    ]


def test_post_more_than_pending_and_void_rules() -> None:
    pend = t(1, amount=400, flags=int(TransferFlags.PENDING))
    _, accounts, existing, pendings = run([pend])
    snapshot = copy.deepcopy(accounts)
    post_flag, void_flag = int(TransferFlags.POST_PENDING_TRANSFER), int(TransferFlags.VOID_PENDING_TRANSFER)
    cases = [
        (Transfer(2, 0, 0, 401, 0, 0, flags=post_flag, pending_id=1), R.EXCEEDS_PENDING_TRANSFER_AMOUNT),
        (Transfer(2, 0, 0, 5, 0, 0, flags=void_flag, pending_id=1), R.PENDING_TRANSFER_HAS_DIFFERENT_AMOUNT),
        (
            Transfer(2, LOAN, 0, 0, 0, 0, flags=post_flag, pending_id=1),
            R.PENDING_TRANSFER_HAS_DIFFERENT_DEBIT_ACCOUNT_ID,
        ),
        (
            Transfer(2, 0, LOAN, 0, 0, 0, flags=post_flag, pending_id=1),
            R.PENDING_TRANSFER_HAS_DIFFERENT_CREDIT_ACCOUNT_ID,
        ),
        (Transfer(2, 0, 0, 0, 9, 0, flags=post_flag, pending_id=1), R.PENDING_TRANSFER_HAS_DIFFERENT_LEDGER),
        (Transfer(2, 0, 0, 0, 0, 9, flags=post_flag, pending_id=1), R.PENDING_TRANSFER_HAS_DIFFERENT_CODE),
    ]
    for transfer, code in cases:
        assert apply_batch([transfer], accounts, existing, pendings, 3).results == [code]
        assert accounts == snapshot
    existing[50] = t(50)  # a posted (not pending) transfer
    post_plain = Transfer(2, 0, 0, 0, 0, 0, flags=post_flag, pending_id=50)
    assert apply_batch([post_plain], accounts, existing, pendings, 3).results == [
        R.PENDING_TRANSFER_NOT_PENDING
    ]
    void = Transfer(2, 0, 0, 0, 0, 0, flags=void_flag, pending_id=1)
    assert apply_batch([void], accounts, existing, pendings, 4).results == [R.OK]
    assert accounts[CASH].balances() == (0, 0, 0, 1000) and accounts[BANK].balances() == (0, 1000, 0, 0)
    post_after_void = Transfer(3, 0, 0, 0, 0, 0, flags=post_flag, pending_id=1)
    assert apply_batch([post_after_void], accounts, existing, pendings, 5).results == [
        R.PENDING_TRANSFER_ALREADY_VOIDED
    ]


def test_timeout_expires_the_reservation() -> None:
    pend = t(1, amount=400, flags=int(TransferFlags.PENDING), timeout_s=2)
    _, accounts, existing, pendings = run([pend], now=10)
    assert pendings[1].expires_at_ns == 11 + 2_000_000_000
    post = Transfer(2, 0, 0, 0, 0, 0, flags=int(TransferFlags.POST_PENDING_TRANSFER), pending_id=1)
    late = apply_batch([post], accounts, existing, pendings, 11 + 2_000_000_000)
    assert late.results == [R.PENDING_TRANSFER_EXPIRED]
    assert accounts[CASH].debits_pending == 400  # released by expire(), not by a failed post
    changed = expire([existing[1]], accounts, pendings)
    assert [p.status for p in changed] == [PendingStatus.EXPIRED]
    assert accounts[CASH].debits_pending == 0 and accounts[BANK].credits_pending == 0
    assert expire([existing[1]], accounts, pendings) == []  # only once


def test_pending_created_and_posted_in_one_batch() -> None:
    batch = [
        t(1, amount=100, flags=int(TransferFlags.PENDING)),
        Transfer(2, 0, 0, 0, 0, 0, flags=int(TransferFlags.POST_PENDING_TRANSFER), pending_id=1),
    ]
    outcome, accounts, _, _ = run(batch)
    assert outcome.results == [R.OK, R.OK]
    assert outcome.new_pendings == {1: Pending(1, PendingStatus.POSTED, 0)}
    assert accounts[CASH].balances() == (0, 100, 0, 1000)


def test_accounts_create_and_idempotency() -> None:
    existing: dict[int, Account] = {}
    both = int(AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS | AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS)
    results = apply_accounts(
        [
            Account(1, 1, 1),
            Account(1, 1, 1),
            Account(1, 2, 1),
            Account(0, 1, 1),
            Account(2, 0, 1),
            Account(3, 1, 0),
            Account(4, 1, 1, both),
            Account(5, 1, 1, 256),
        ],
        existing,
    )
    assert results == [
        AccountResult.OK,
        AccountResult.EXISTS,
        AccountResult.EXISTS_WITH_DIFFERENT_BODY,
        AccountResult.ID_MUST_BE_POSITIVE,
        AccountResult.LEDGER_MUST_BE_POSITIVE,
        AccountResult.CODE_MUST_BE_POSITIVE,
        AccountResult.FLAGS_ARE_MUTUALLY_EXCLUSIVE,
        AccountResult.RESERVED_FLAG,
    ]
    assert set(existing) == {1}


PEND, POST = int(TransferFlags.PENDING), int(TransferFlags.POST_PENDING_TRANSFER)


def test_every_balance_adds_to_what_the_account_already_held() -> None:
    batch = [t(1, amount=100), t(2, amount=50), t(3, amount=30, flags=PEND), t(4, amount=20, flags=PEND)]
    outcome, accounts, existing, pendings = run(batch, now=100)
    assert outcome.results == [R.OK] * 4 and outcome.touched_accounts == {CASH, BANK}
    assert outcome.new_pendings == {
        3: Pending(3, PendingStatus.PENDING, 0),
        4: Pending(4, PendingStatus.PENDING, 0),
    }
    # (debits pending, debits posted, credits pending, credits posted)
    assert accounts[CASH].balances() == (50, 150, 0, 1000)
    assert accounts[BANK].balances() == (0, 1000, 50, 150)
    posts = [
        Transfer(5, 0, 0, 0, 0, 0, flags=POST, pending_id=3),
        Transfer(6, 0, 0, 0, 0, 0, flags=POST, pending_id=4),
    ]
    done = apply_batch(posts, accounts, existing, pendings, 200)
    assert done.results == [R.OK, R.OK]
    assert done.changed_pendings == {
        3: Pending(3, PendingStatus.POSTED, 0),
        4: Pending(4, PendingStatus.POSTED, 0),
    }
    assert accounts[CASH].balances() == (0, 200, 0, 1000)
    assert accounts[BANK].balances() == (0, 1000, 0, 200)
    assert [existing[i].timestamp_ns for i in (5, 6)] == [201, 202]  # server time on posts too


def test_credits_may_reach_but_not_pass_the_debits_of_a_loan() -> None:
    # LOAN: credits must not exceed debits (300 lent); earlier credits count
    outcome, accounts, _, _ = run([t(1, dr=BANK, cr=LOAN, amount=200), t(2, dr=BANK, cr=LOAN, amount=100)])
    assert outcome.results == [R.OK, R.OK] and accounts[LOAN].credits_posted == 300  # equal is allowed
    over = apply_batch([t(3, dr=BANK, cr=LOAN, amount=1)], accounts, {}, {}, 5)
    assert over.results == [R.EXCEEDS_DEBITS]


def test_a_credit_balance_may_reach_max_int64_exactly() -> None:
    accounts = {1: Account(1, 1, 20), 2: Account(2, 1, 20, credits_posted=MAX_INT64 - 10)}
    outcome, accounts, _, _ = run([t(1, dr=1, cr=2, amount=10)], accounts)
    assert outcome.results == [R.OK] and accounts[2].credits_posted == MAX_INT64


def test_a_pending_transfer_expires_at_its_deadline_not_after() -> None:
    _, accounts, existing, pendings = run([t(1, amount=400, flags=PEND, timeout_s=1)], now=0)
    deadline = pendings[1].expires_at_ns
    post = Transfer(2, 0, 0, 0, 0, 0, flags=POST, pending_id=1)
    # the batch stamps now + 1: at deadline − 1 the post lands exactly on the deadline: expired
    assert apply_batch([post], accounts, existing, pendings, deadline - 1).results == [
        R.PENDING_TRANSFER_EXPIRED
    ]
    assert apply_batch([post], accounts, existing, pendings, deadline - 2).results == [R.OK]


def test_expire_skips_resolved_pendings_and_releases_the_rest() -> None:
    batch = [t(1, amount=100, flags=PEND, timeout_s=1), t(2, amount=40, flags=PEND, timeout_s=1)]
    _, accounts, existing, pendings = run(batch)
    apply_batch([Transfer(3, 0, 0, 0, 0, 0, flags=POST, pending_id=1)], accounts, existing, pendings, 10)
    expires = pendings[2].expires_at_ns
    changed = expire([existing[1], existing[2]], accounts, pendings)
    assert changed == [Pending(2, PendingStatus.EXPIRED, expires)] and pendings[2] == changed[0]
    assert accounts[CASH].debits_pending == 0 and accounts[CASH].debits_posted == 100


def test_a_failed_chain_restores_a_pending_it_posted() -> None:
    _, accounts, existing, pendings = run([t(1, amount=100, flags=PEND)])
    before = copy.deepcopy((accounts, pendings))
    chain = [
        Transfer(2, 0, 0, 0, 0, 0, flags=POST | int(TransferFlags.LINKED), pending_id=1),
        t(3, amount=5000),
    ]
    outcome = apply_batch(chain, accounts, existing, pendings, 10)
    assert outcome.results == [R.LINKED_EVENT_FAILED, R.EXCEEDS_CREDITS]
    assert (accounts, pendings) == before and 2 not in existing


def test_an_empty_batch_has_no_results_and_moves_nothing() -> None:
    outcome, accounts, existing, _ = run([])
    assert outcome.results == [] and outcome.created == [] and accounts == state() and existing == {}


def test_a_timeout_at_the_int64_minimum_is_negative_not_out_of_range() -> None:
    outcome, _, _, _ = run([t(1, flags=PEND, timeout_s=-(2**63))])
    assert outcome.results == [R.TIMEOUT_MUST_NOT_BE_NEGATIVE]


def test_ids_named_includes_id_one_everywhere_storage_must_load_it() -> None:
    # account 1 and transfer 1 are ordinary ids: storage must load them like any other
    assert ids_named([t(1, dr=3, cr=1)]) == ({1, 3}, {1})
    assert ids_named([Transfer(2, 0, 0, 0, 0, 0, flags=POST, pending_id=1)]) == (set(), {1, 2})
