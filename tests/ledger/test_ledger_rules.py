"""Every validation rule of ledger/domain.py at its edge: the last value allowed and the first refused.

Written to kill the mutants `make mutation` found alive (off-by-one bounds, dropped fields):
each rule is probed on both sides of its boundary, one field at a time.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from ledger.domain import (
    MAX_INT64,
    Account,
    AccountFlags,
    AccountResult,
    Transfer,
    TransferFlags,
    TransferResult,
    apply_batch,
    ids_named,
    validate_account,
)

R = TransferResult
MAX_INT32 = 2**31 - 1


@pytest.mark.parametrize(
    "account, result",
    [
        (Account(1, 1, 1), AccountResult.OK),
        (Account(MAX_INT64, MAX_INT32, MAX_INT32), AccountResult.OK),
        (Account(0, 1, 1), AccountResult.ID_MUST_BE_POSITIVE),
        (Account(MAX_INT64 + 1, 1, 1), AccountResult.ID_MUST_BE_POSITIVE),
        (Account(1, 1, 1, flags=8), AccountResult.RESERVED_FLAG),
        (Account(1, 1, 1, flags=-1), AccountResult.RESERVED_FLAG),
        (Account(1, 1, 1, flags=7), AccountResult.FLAGS_ARE_MUTUALLY_EXCLUSIVE),
        (Account(1, 1, 1, flags=int(AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS)), AccountResult.OK),
        (Account(1, 1, 1, flags=int(AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS)), AccountResult.OK),
        (Account(1, 0, 1), AccountResult.LEDGER_MUST_BE_POSITIVE),
        (Account(1, MAX_INT32 + 1, 1), AccountResult.LEDGER_MUST_BE_POSITIVE),
        (Account(1, 1, 0), AccountResult.CODE_MUST_BE_POSITIVE),
        (Account(1, 1, MAX_INT32 + 1), AccountResult.CODE_MUST_BE_POSITIVE),
        (Account(1, 1, 1, debits_pending=1), AccountResult.RESERVED_FLAG),
        (Account(1, 1, 1, debits_posted=1), AccountResult.RESERVED_FLAG),
        (Account(1, 1, 1, credits_pending=1), AccountResult.RESERVED_FLAG),
        (Account(1, 1, 1, credits_posted=1), AccountResult.RESERVED_FLAG),
    ],
)
def test_account_rules_at_their_edges(account: Account, result: AccountResult) -> None:
    assert validate_account(account) is result


def _books() -> dict[int, Account]:
    return {1: Account(1, 1, 1), 2: Account(2, 1, 1)}


def _result(t: Transfer) -> TransferResult:
    return apply_batch([t], _books(), {}, {}, now_ns=1_000).results[0]


BASE = Transfer(10, 1, 2, 100, 1, 1)


@pytest.mark.parametrize(
    "field",
    ["debit_account_id", "credit_account_id", "amount_minor", "ledger", "code", "pending_id", "user_data"],
)
def test_every_field_is_range_checked_on_both_ends(field: str) -> None:
    assert _result(replace(BASE, **{field: MAX_INT64 + 1})) is R.VALUE_OUT_OF_RANGE
    assert _result(replace(BASE, **{field: -(2**63) - 1})) is R.VALUE_OUT_OF_RANGE
    assert _result(replace(BASE, **{field: MAX_INT64})) is not R.VALUE_OUT_OF_RANGE
    assert _result(replace(BASE, **{field: -(2**63)})) is not R.VALUE_OUT_OF_RANGE


def test_timeout_range_and_id_edges() -> None:
    pending = int(TransferFlags.PENDING)
    assert _result(replace(BASE, timeout_s=2**31, flags=pending)) is R.VALUE_OUT_OF_RANGE
    assert _result(replace(BASE, timeout_s=2**31 - 1, flags=pending)) is R.OK
    assert _result(replace(BASE, timeout_s=-(2**63) - 1)) is R.VALUE_OUT_OF_RANGE
    assert _result(replace(BASE, id=0)) is R.ID_MUST_BE_POSITIVE
    assert _result(replace(BASE, id=MAX_INT64 + 1)) is R.ID_MUST_BE_POSITIVE
    assert _result(replace(BASE, id=MAX_INT64)) is R.OK


def test_a_plain_transfer_is_checked_field_by_field() -> None:
    assert _result(BASE) is R.OK
    assert _result(replace(BASE, debit_account_id=0)) is R.DEBIT_ACCOUNT_ID_MUST_BE_POSITIVE
    assert _result(replace(BASE, credit_account_id=0)) is R.CREDIT_ACCOUNT_ID_MUST_BE_POSITIVE
    assert _result(replace(BASE, credit_account_id=1)) is R.ACCOUNTS_MUST_BE_DIFFERENT
    assert _result(replace(BASE, ledger=0)) is R.LEDGER_MUST_BE_POSITIVE
    assert _result(replace(BASE, code=0)) is R.CODE_MUST_BE_POSITIVE
    assert _result(replace(BASE, amount_minor=0)) is R.AMOUNT_MUST_BE_POSITIVE
    assert _result(replace(BASE, amount_minor=1)) is R.OK
    assert _result(replace(BASE, pending_id=5)) is R.PENDING_ID_MUST_BE_ZERO
    assert _result(replace(BASE, debit_account_id=3)) is R.DEBIT_ACCOUNT_NOT_FOUND
    assert _result(replace(BASE, credit_account_id=3)) is R.CREDIT_ACCOUNT_NOT_FOUND
    assert _result(replace(BASE, ledger=2)) is R.TRANSFER_MUST_HAVE_THE_SAME_LEDGER_AS_ACCOUNTS
    assert _result(replace(BASE, timeout_s=-1)) is R.TIMEOUT_MUST_NOT_BE_NEGATIVE
    assert _result(replace(BASE, timeout_s=5)) is R.TIMEOUT_RESERVED_FOR_PENDING_TRANSFER
    assert _result(replace(BASE, flags=16)) is R.RESERVED_FLAG
    assert _result(replace(BASE, flags=-1)) is R.RESERVED_FLAG
    assert _result(replace(BASE, flags=2 | 4)) is R.FLAGS_ARE_MUTUALLY_EXCLUSIVE
    assert _result(replace(BASE, flags=2 | 8)) is R.FLAGS_ARE_MUTUALLY_EXCLUSIVE
    assert _result(replace(BASE, flags=4 | 8)) is R.FLAGS_ARE_MUTUALLY_EXCLUSIVE


def test_overflow_is_refused_exactly_past_the_int64_limit() -> None:
    full = {1: Account(1, 1, 1, debits_posted=MAX_INT64 - 100), 2: Account(2, 1, 1)}
    assert apply_batch([BASE], dict(full), {}, {}, 1).results[0] is R.OK  # lands exactly on the limit
    full = {1: Account(1, 1, 1, debits_posted=MAX_INT64 - 99), 2: Account(2, 1, 1)}
    assert apply_batch([BASE], full, {}, {}, 1).results[0] is R.OVERFLOWS_DEBITS
    full = {1: Account(1, 1, 1), 2: Account(2, 1, 1, credits_pending=MAX_INT64 - 99)}
    assert apply_batch([BASE], full, {}, {}, 1).results[0] is R.OVERFLOWS_CREDITS


def test_ids_named_lists_only_positive_ids() -> None:
    transfers = [Transfer(5, 1, 2, 1, 1, 1, pending_id=7), Transfer(0, 0, -3, 1, 1, 1, pending_id=0)]
    assert ids_named(transfers) == ({1, 2}, {5, 7})
    assert ids_named([Transfer(-1, -1, 0, 1, 1, 1, pending_id=-2)]) == (set(), set())


def test_a_batch_holds_at_most_max_batch_transfers() -> None:
    from ledger.domain import MAX_BATCH

    full = [replace(BASE, id=i + 1, amount_minor=1) for i in range(MAX_BATCH)]
    assert apply_batch(full, _books(), {}, {}, 1).results.count(R.OK) == MAX_BATCH
    with pytest.raises(ValueError) as refused:
        apply_batch([*full, replace(BASE, id=MAX_BATCH + 1)], _books(), {}, {}, 1)
    assert str(refused.value) == f"a batch holds at most {MAX_BATCH} transfers, got {MAX_BATCH + 1}"


def test_a_failed_chain_is_rolled_back_and_the_transfers_before_it_stand() -> None:
    linked, pending = int(TransferFlags.LINKED), int(TransferFlags.PENDING)
    accounts, existing, pendings = _books(), {}, {}
    batch = [
        replace(BASE, id=1),  # on its own: stands
        replace(BASE, id=2, flags=linked | pending),  # a pending transfer in a chain ...
        replace(BASE, id=3, credit_account_id=9),  # ... whose next event fails
    ]
    out = apply_batch(batch, accounts, existing, pendings, now_ns=100)
    assert out.results == [R.OK, R.LINKED_EVENT_FAILED, R.CREDIT_ACCOUNT_NOT_FOUND]
    assert [t.id for t in out.created] == [1] and out.created[0].timestamp_ns == 101
    assert set(existing) == {1} and pendings == {} and out.new_pendings == {}
    assert accounts[1].debits_posted == 100 and accounts[1].debits_pending == 0
    assert accounts[2].credits_posted == 100 and accounts[2].credits_pending == 0


def test_a_chain_failing_at_its_first_event_fails_as_a_whole() -> None:
    linked = int(TransferFlags.LINKED)
    accounts = _books()
    out = apply_batch(
        [replace(BASE, id=1, flags=linked, amount_minor=0), replace(BASE, id=2)], accounts, {}, {}, 1
    )
    assert out.results == [R.AMOUNT_MUST_BE_POSITIVE, R.LINKED_EVENT_FAILED]
    assert out.created == [] and accounts[1].debits_posted == 0
    open_chain = apply_batch([replace(BASE, id=3, flags=linked)], accounts, {}, {}, 1)
    assert open_chain.results == [R.LINKED_EVENT_CHAIN_OPEN] and accounts[1].debits_posted == 0


def test_pendings_are_reported_as_new_or_changed() -> None:
    pending, post = int(TransferFlags.PENDING), int(TransferFlags.POST_PENDING_TRANSFER)
    accounts, existing, pendings = _books(), {}, {}
    first = apply_batch([replace(BASE, id=1, flags=pending)], accounts, existing, pendings, 10)
    assert list(first.new_pendings) == [1] and first.changed_pendings == {}
    assert accounts[1].debits_pending == 100 and accounts[1].debits_posted == 0
    second = apply_batch(
        [Transfer(2, 0, 0, 0, 0, 0, flags=post, pending_id=1)], accounts, existing, pendings, 20
    )
    assert second.results == [R.OK] and list(second.changed_pendings) == [1] and second.new_pendings == {}
    assert accounts[1].debits_pending == 0 and accounts[1].debits_posted == 100
    assert second.created[0].amount_minor == 100 and second.created[0].debit_account_id == 1
