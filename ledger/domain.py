"""The double-entry core, free of I/O: accounts, transfers, result codes and the batch rules.

Semantics follow TigerBeetle (https://docs.tigerbeetle.com) closely, because its rules were
designed so that money can never be created or lost by a client bug, a retry or a crash:

* a transfer moves one positive integer ``amount_minor`` from one debit account to one
  credit account on the same ledger (a currency or an instrument);
* transfers are immutable; mistakes are corrected by new transfers;
* a client-chosen id makes every transfer idempotent: the same id and body again gives
  ``exists`` (the stored transfer stands), the same id with another body is refused;
* transfers flagged ``LINKED`` form a chain with the next one; a chain commits all or nothing;
* ``PENDING`` transfers reserve the amount; a later ``POST_PENDING_TRANSFER`` posts all or part
  of it, ``VOID_PENDING_TRANSFER`` releases it; a pending transfer with a timeout expires.

``apply_batch`` is a pure function over in-memory state: the storage layer loads the
accounts and earlier transfers a batch touches, calls it, and writes back what it returns.
Every rejection leaves the state exactly as it was.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

MAX_BATCH = 8190  # TigerBeetle's batch limit: bounded work per request
MAX_INT64 = 2**63 - 1  # ids, amounts and balances are signed 64-bit integers in every database we use
NS_PER_S = 1_000_000_000


class AccountFlags(enum.IntFlag):
    NONE = 0
    LINKED = 1  # reserved for symmetry with transfers (accounts are created in one transaction anyway)
    DEBITS_MUST_NOT_EXCEED_CREDITS = 2  # e.g. customer cash: cannot be overdrawn
    CREDITS_MUST_NOT_EXCEED_DEBITS = 4  # e.g. a loan or a position: cannot be repaid/sold past zero


class TransferFlags(enum.IntFlag):
    NONE = 0
    LINKED = 1
    PENDING = 2
    POST_PENDING_TRANSFER = 4
    VOID_PENDING_TRANSFER = 8


_TRANSFER_FLAG_MASK = 15
_ACCOUNT_FLAG_MASK = 7
# Plain ints for the hot loop: IntFlag arithmetic costs a microsecond per operation.
_LINKED = int(TransferFlags.LINKED)
_PENDING = int(TransferFlags.PENDING)
_POST = int(TransferFlags.POST_PENDING_TRANSFER)
_VOID = int(TransferFlags.VOID_PENDING_TRANSFER)
_DMNEC = int(AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS)
_CMNED = int(AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS)
_MIN_INT64 = -(2**63)


class AccountResult(enum.StrEnum):
    OK = "ok"
    EXISTS = "exists"
    EXISTS_WITH_DIFFERENT_BODY = "exists_with_different_body"
    ID_MUST_BE_POSITIVE = "id_must_be_positive"
    LEDGER_MUST_BE_POSITIVE = "ledger_must_be_positive"
    CODE_MUST_BE_POSITIVE = "code_must_be_positive"
    RESERVED_FLAG = "reserved_flag"
    FLAGS_ARE_MUTUALLY_EXCLUSIVE = "flags_are_mutually_exclusive"


class TransferResult(enum.StrEnum):
    OK = "ok"
    EXISTS = "exists"  # same id and same body: the stored transfer stands, nothing moves again
    LINKED_EVENT_FAILED = "linked_event_failed"
    LINKED_EVENT_CHAIN_OPEN = "linked_event_chain_open"
    EXISTS_WITH_DIFFERENT_BODY = "exists_with_different_body"
    ID_MUST_BE_POSITIVE = "id_must_be_positive"
    RESERVED_FLAG = "reserved_flag"
    FLAGS_ARE_MUTUALLY_EXCLUSIVE = "flags_are_mutually_exclusive"
    DEBIT_ACCOUNT_ID_MUST_BE_POSITIVE = "debit_account_id_must_be_positive"
    CREDIT_ACCOUNT_ID_MUST_BE_POSITIVE = "credit_account_id_must_be_positive"
    ACCOUNTS_MUST_BE_DIFFERENT = "accounts_must_be_different"
    PENDING_ID_MUST_BE_ZERO = "pending_id_must_be_zero"
    PENDING_ID_MUST_BE_POSITIVE = "pending_id_must_be_positive"
    PENDING_ID_MUST_BE_DIFFERENT = "pending_id_must_be_different"
    TIMEOUT_RESERVED_FOR_PENDING_TRANSFER = "timeout_reserved_for_pending_transfer"
    TIMEOUT_MUST_NOT_BE_NEGATIVE = "timeout_must_not_be_negative"
    LEDGER_MUST_BE_POSITIVE = "ledger_must_be_positive"
    CODE_MUST_BE_POSITIVE = "code_must_be_positive"
    AMOUNT_MUST_BE_POSITIVE = "amount_must_be_positive"
    AMOUNT_MUST_NOT_BE_NEGATIVE = "amount_must_not_be_negative"
    DEBIT_ACCOUNT_NOT_FOUND = "debit_account_not_found"
    CREDIT_ACCOUNT_NOT_FOUND = "credit_account_not_found"
    ACCOUNTS_MUST_HAVE_THE_SAME_LEDGER = "accounts_must_have_the_same_ledger"
    TRANSFER_MUST_HAVE_THE_SAME_LEDGER_AS_ACCOUNTS = "transfer_must_have_the_same_ledger_as_accounts"
    PENDING_TRANSFER_NOT_FOUND = "pending_transfer_not_found"
    PENDING_TRANSFER_NOT_PENDING = "pending_transfer_not_pending"
    PENDING_TRANSFER_HAS_DIFFERENT_DEBIT_ACCOUNT_ID = "pending_transfer_has_different_debit_account_id"
    PENDING_TRANSFER_HAS_DIFFERENT_CREDIT_ACCOUNT_ID = "pending_transfer_has_different_credit_account_id"
    PENDING_TRANSFER_HAS_DIFFERENT_LEDGER = "pending_transfer_has_different_ledger"
    PENDING_TRANSFER_HAS_DIFFERENT_CODE = "pending_transfer_has_different_code"
    PENDING_TRANSFER_HAS_DIFFERENT_AMOUNT = "pending_transfer_has_different_amount"
    EXCEEDS_PENDING_TRANSFER_AMOUNT = "exceeds_pending_transfer_amount"
    PENDING_TRANSFER_ALREADY_POSTED = "pending_transfer_already_posted"
    PENDING_TRANSFER_ALREADY_VOIDED = "pending_transfer_already_voided"
    PENDING_TRANSFER_EXPIRED = "pending_transfer_expired"
    OVERFLOWS_DEBITS = "overflows_debits"
    OVERFLOWS_CREDITS = "overflows_credits"
    EXCEEDS_CREDITS = "exceeds_credits"
    EXCEEDS_DEBITS = "exceeds_debits"
    VALUE_OUT_OF_RANGE = "value_out_of_range"  # a field outside signed 64-bit (timeouts: 32-bit)


SUCCESS_RESULTS = frozenset({TransferResult.OK, TransferResult.EXISTS})


class PendingStatus(enum.IntEnum):
    PENDING = 1
    POSTED = 2
    VOIDED = 3
    EXPIRED = 4


@dataclass(slots=True)
class Account:
    """One account with its four running balances (all integer minor units)."""

    id: int
    ledger: int
    code: int
    flags: int = 0
    user_data: int = 0
    debits_pending: int = 0
    debits_posted: int = 0
    credits_pending: int = 0
    credits_posted: int = 0
    timestamp_ns: int = 0

    def body(self) -> tuple[int, int, int, int]:
        return (self.ledger, self.code, self.flags, self.user_data)

    @property
    def balance_minor(self) -> int:
        """Posted credits minus posted debits: positive for a liability to the customer (cash)."""
        return self.credits_posted - self.debits_posted

    def balances(self) -> tuple[int, int, int, int]:
        return (self.debits_pending, self.debits_posted, self.credits_pending, self.credits_posted)


@dataclass(frozen=True, slots=True)
class Transfer:
    """An immutable movement of ``amount_minor`` from ``debit_account_id`` to ``credit_account_id``.

    For a post or void, ``debit_account_id``, ``credit_account_id``, ``ledger`` and ``code``
    may be 0 (taken from the pending transfer), and ``amount_minor`` 0 means "the whole
    pending amount". The stored transfer always carries the resolved values.
    """

    id: int
    debit_account_id: int
    credit_account_id: int
    amount_minor: int
    ledger: int
    code: int
    flags: int = 0
    pending_id: int = 0
    timeout_s: int = 0
    user_data: int = 0
    timestamp_ns: int = 0

    def body(self) -> tuple[int, ...]:
        """What idempotency compares: everything the client chose (not the server timestamp)."""
        return (
            self.debit_account_id,
            self.credit_account_id,
            self.amount_minor,
            self.ledger,
            self.code,
            self.flags,
            self.pending_id,
            self.timeout_s,
            self.user_data,
        )


@dataclass(slots=True)
class Pending:
    """The state of one pending transfer: the only mutable thing about a transfer."""

    transfer_id: int
    status: int
    expires_at_ns: int  # 0 = never


@dataclass
class BatchOutcome:
    results: list[TransferResult]
    created: list[Transfer] = field(default_factory=list)
    touched_accounts: set[int] = field(default_factory=set)
    new_pendings: dict[int, Pending] = field(default_factory=dict)
    changed_pendings: dict[int, Pending] = field(default_factory=dict)


def _chains(flags: Sequence[int]) -> list[tuple[int, int]]:
    """[start, end) index ranges: a chain runs until (and including) the first unlinked event."""
    out: list[tuple[int, int]] = []
    start = 0
    for i, f in enumerate(flags):
        if not f & 1:
            out.append((start, i + 1))
            start = i + 1
    if start < len(flags):
        out.append((start, len(flags)))
    return out


def validate_account(a: Account) -> AccountResult:
    if not 0 < a.id <= MAX_INT64:
        return AccountResult.ID_MUST_BE_POSITIVE
    if a.flags & ~_ACCOUNT_FLAG_MASK or a.flags < 0:
        return AccountResult.RESERVED_FLAG
    both = AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS | AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS
    if a.flags & both == both:
        return AccountResult.FLAGS_ARE_MUTUALLY_EXCLUSIVE
    if not 0 < a.ledger <= 2**31 - 1:
        return AccountResult.LEDGER_MUST_BE_POSITIVE
    if not 0 < a.code <= 2**31 - 1:
        return AccountResult.CODE_MUST_BE_POSITIVE
    if a.balances() != (0, 0, 0, 0):
        return AccountResult.RESERVED_FLAG
    return AccountResult.OK


def apply_accounts(new: Sequence[Account], existing: dict[int, Account]) -> list[AccountResult]:
    """Results for creating ``new``; ``existing`` (id → stored) gains the created ones."""
    results: list[AccountResult] = []
    for a in new:
        code = validate_account(a)
        if code is AccountResult.OK and a.id in existing:
            code = (
                AccountResult.EXISTS
                if existing[a.id].body() == a.body()
                else AccountResult.EXISTS_WITH_DIFFERENT_BODY
            )
        if code is AccountResult.OK:
            existing[a.id] = replace(a)
        results.append(code)
    return results


class _Undo:
    """Snapshots taken before a chain touches anything, so a failed chain restores them exactly."""

    def __init__(self) -> None:
        self.balances: dict[int, tuple[int, int, int, int]] = {}
        self.pendings: dict[int, Pending | None] = {}
        self.created_len = 0
        self.new_ids: list[int] = []

    def account(self, a: Account) -> None:
        if a.id not in self.balances:
            self.balances[a.id] = a.balances()


@dataclass
class _ChainState:
    """What one chain of a batch reads and changes (``undo`` restores it if the chain fails):
    one argument, so a plain transfer and a post/void check and record alike."""

    accounts: dict[int, Account]
    existing: dict[int, Transfer]
    pendings: dict[int, Pending]
    undo: _Undo
    outcome: BatchOutcome

    def record(self, t: Transfer, ts: int) -> TransferResult:
        """Store ``t`` stamped at ``ts`` as created by this chain."""
        _record(_stamped(t, ts), self.existing, self.undo, self.outcome)
        return TransferResult.OK


def apply_batch(
    transfers: Sequence[Transfer],
    accounts: dict[int, Account],
    existing: dict[int, Transfer],
    pendings: dict[int, Pending],
    now_ns: int,
) -> BatchOutcome:
    """Apply ``transfers`` in order to the in-memory state; return one result per transfer.

    ``accounts`` must hold every account the batch names (missing ones are "not found"),
    ``existing`` every stored transfer whose id the batch uses or names as ``pending_id``,
    ``pendings`` the state of those pending transfers. All three are mutated in place;
    ``timestamp_ns`` of created transfers counts up from ``now_ns`` so order is total.
    """
    if len(transfers) > MAX_BATCH:
        raise ValueError(f"a batch holds at most {MAX_BATCH} transfers, got {len(transfers)}")
    outcome = BatchOutcome(results=[TransferResult.OK] * len(transfers))
    pending_before: dict[int, Pending | None] = {}
    ts = now_ns
    for start, end in _chains([t.flags for t in transfers]):
        undo = _Undo()
        undo.created_len = len(outcome.created)
        failed_at = -1
        failure = TransferResult.OK
        chain_open = bool(transfers[end - 1].flags & _LINKED)
        state = _ChainState(accounts, existing, pendings, undo, outcome)
        for i in range(start, end):
            ts += 1
            code = _apply_one(transfers[i], state, ts)
            outcome.results[i] = code
            if code not in SUCCESS_RESULTS:
                failed_at, failure = i, code
                break
        if failed_at < 0 and chain_open:
            failed_at, failure = end - 1, TransferResult.LINKED_EVENT_CHAIN_OPEN
        if failed_at >= 0:
            _rollback(undo, accounts, existing, pendings, outcome)
            if end - start > 1 or chain_open:
                for i in range(start, end):
                    outcome.results[i] = TransferResult.LINKED_EVENT_FAILED
            outcome.results[failed_at] = failure
        else:
            for pid, before in undo.pendings.items():
                pending_before.setdefault(pid, before)
    for pid, before in pending_before.items():
        if before is None:
            outcome.new_pendings[pid] = pendings[pid]
        else:
            outcome.changed_pendings[pid] = pendings[pid]
    return outcome


def _rollback(
    undo: _Undo,
    accounts: dict[int, Account],
    existing: dict[int, Transfer],
    pendings: dict[int, Pending],
    outcome: BatchOutcome,
) -> None:
    for aid, (dp, dpo, cp, cpo) in undo.balances.items():
        a = accounts[aid]
        a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted = dp, dpo, cp, cpo
    for pid, before in undo.pendings.items():
        if before is None:
            pendings.pop(pid, None)
        else:
            pendings[pid] = before
    for tid in undo.new_ids:
        existing.pop(tid, None)
    del outcome.created[undo.created_len :]


def resolve_post_or_void(t: Transfer, pending: Transfer) -> Transfer:
    """Fill the fields a post/void may leave as 0 from its pending transfer."""
    amount = t.amount_minor
    if t.flags & _VOID or amount == 0:
        amount = pending.amount_minor if amount == 0 else amount
    return replace(
        t,
        debit_account_id=t.debit_account_id or pending.debit_account_id,
        credit_account_id=t.credit_account_id or pending.credit_account_id,
        ledger=t.ledger or pending.ledger,
        code=t.code or pending.code,
        amount_minor=amount,
    )


def _apply_one(t: Transfer, state: _ChainState, ts: int) -> TransferResult:
    R = TransferResult
    if not 0 < t.id <= MAX_INT64:
        return R.ID_MUST_BE_POSITIVE
    if not _in_range(t):
        return R.VALUE_OUT_OF_RANGE
    flags = t.flags
    if flags < 0 or flags & ~_TRANSFER_FLAG_MASK:
        return R.RESERVED_FLAG
    is_post = bool(flags & _POST)
    is_void = bool(flags & _VOID)
    is_pending = bool(flags & _PENDING)
    if is_post + is_void + is_pending > 1:
        return R.FLAGS_ARE_MUTUALLY_EXCLUSIVE
    pending_t: Transfer | None = None
    if is_post or is_void:
        pending_t = state.existing.get(t.pending_id) if t.pending_id > 0 else None
        if pending_t is not None and pending_t.flags & _PENDING:
            t = resolve_post_or_void(t, pending_t)
    stored = state.existing.get(t.id)
    if stored is not None:
        return R.EXISTS if stored.body() == t.body() else R.EXISTS_WITH_DIFFERENT_BODY
    if t.timeout_s < 0:
        return R.TIMEOUT_MUST_NOT_BE_NEGATIVE
    if t.timeout_s and not is_pending:
        return R.TIMEOUT_RESERVED_FOR_PENDING_TRANSFER
    if is_post or is_void:
        return _post_or_void(t, pending_t, is_post, state, ts)
    if t.pending_id != 0:
        return R.PENDING_ID_MUST_BE_ZERO
    if t.debit_account_id <= 0:
        return R.DEBIT_ACCOUNT_ID_MUST_BE_POSITIVE
    if t.credit_account_id <= 0:
        return R.CREDIT_ACCOUNT_ID_MUST_BE_POSITIVE
    if t.debit_account_id == t.credit_account_id:
        return R.ACCOUNTS_MUST_BE_DIFFERENT
    if t.ledger <= 0:
        return R.LEDGER_MUST_BE_POSITIVE
    if t.code <= 0:
        return R.CODE_MUST_BE_POSITIVE
    amount = t.amount_minor
    if amount <= 0:
        return R.AMOUNT_MUST_BE_POSITIVE
    dr = state.accounts.get(t.debit_account_id)
    if dr is None:
        return R.DEBIT_ACCOUNT_NOT_FOUND
    cr = state.accounts.get(t.credit_account_id)
    if cr is None:
        return R.CREDIT_ACCOUNT_NOT_FOUND
    if dr.ledger != cr.ledger:
        return R.ACCOUNTS_MUST_HAVE_THE_SAME_LEDGER
    if t.ledger != dr.ledger:
        return R.TRANSFER_MUST_HAVE_THE_SAME_LEDGER_AS_ACCOUNTS
    dr_debits = dr.debits_pending + dr.debits_posted + amount
    cr_credits = cr.credits_pending + cr.credits_posted + amount
    if dr_debits > MAX_INT64:
        return R.OVERFLOWS_DEBITS
    if cr_credits > MAX_INT64:
        return R.OVERFLOWS_CREDITS
    if dr.flags & _DMNEC and dr_debits > dr.credits_posted:
        return R.EXCEEDS_CREDITS
    if cr.flags & _CMNED and cr_credits > cr.debits_posted:
        return R.EXCEEDS_DEBITS
    state.undo.account(dr)
    state.undo.account(cr)
    if is_pending:
        dr.debits_pending += amount
        cr.credits_pending += amount
        if t.id not in state.undo.pendings:
            state.undo.pendings[t.id] = state.pendings.get(t.id)
        expires = ts + t.timeout_s * NS_PER_S if t.timeout_s else 0
        state.pendings[t.id] = Pending(t.id, PendingStatus.PENDING, expires)
    else:
        dr.debits_posted += amount
        cr.credits_posted += amount
    return state.record(t, ts)


def _stamped(t: Transfer, ts: int) -> Transfer:
    return replace(t, timestamp_ns=ts)


def _in_range(t: Transfer) -> bool:
    lo, hi = _MIN_INT64, MAX_INT64
    return (
        lo <= t.debit_account_id <= hi
        and lo <= t.credit_account_id <= hi
        and lo <= t.amount_minor <= hi
        and lo <= t.ledger <= hi
        and lo <= t.code <= hi
        and lo <= t.pending_id <= hi
        and lo <= t.timeout_s < 2**31
        and lo <= t.user_data <= hi
    )


def _post_or_void(
    t: Transfer,
    p: Transfer | None,
    is_post: bool,
    state: _ChainState,
    ts: int,
) -> TransferResult:
    R = TransferResult
    if t.pending_id <= 0:
        return R.PENDING_ID_MUST_BE_POSITIVE
    if t.pending_id == t.id:
        return R.PENDING_ID_MUST_BE_DIFFERENT
    if p is None:
        return R.PENDING_TRANSFER_NOT_FOUND
    if not p.flags & _PENDING:
        return R.PENDING_TRANSFER_NOT_PENDING
    if t.debit_account_id != p.debit_account_id:
        return R.PENDING_TRANSFER_HAS_DIFFERENT_DEBIT_ACCOUNT_ID
    if t.credit_account_id != p.credit_account_id:
        return R.PENDING_TRANSFER_HAS_DIFFERENT_CREDIT_ACCOUNT_ID
    if t.ledger != p.ledger:
        return R.PENDING_TRANSFER_HAS_DIFFERENT_LEDGER
    if t.code != p.code:
        return R.PENDING_TRANSFER_HAS_DIFFERENT_CODE
    if t.amount_minor < 0:
        return R.AMOUNT_MUST_NOT_BE_NEGATIVE
    if is_post and t.amount_minor > p.amount_minor:
        return R.EXCEEDS_PENDING_TRANSFER_AMOUNT
    if not is_post and t.amount_minor != p.amount_minor:
        return R.PENDING_TRANSFER_HAS_DIFFERENT_AMOUNT
    pending = state.pendings.get(p.id)
    if pending is None:  # the storage layer must load the state of every pending it loads
        raise AssertionError(f"pending transfer {p.id} has no pending state")
    if pending.status == PendingStatus.POSTED:
        return R.PENDING_TRANSFER_ALREADY_POSTED
    if pending.status == PendingStatus.VOIDED:
        return R.PENDING_TRANSFER_ALREADY_VOIDED
    if pending.status == PendingStatus.EXPIRED or (pending.expires_at_ns and ts >= pending.expires_at_ns):
        return R.PENDING_TRANSFER_EXPIRED
    dr = state.accounts.get(p.debit_account_id)
    cr = state.accounts.get(p.credit_account_id)
    if dr is None or cr is None:
        raise AssertionError(f"accounts of pending transfer {p.id} were not loaded")
    state.undo.account(dr)
    state.undo.account(cr)
    dr.debits_pending -= p.amount_minor
    cr.credits_pending -= p.amount_minor
    if is_post:
        dr.debits_posted += t.amount_minor
        cr.credits_posted += t.amount_minor
    if p.id not in state.undo.pendings:
        state.undo.pendings[p.id] = replace(pending)
    state.pendings[p.id] = Pending(
        p.id, PendingStatus.POSTED if is_post else PendingStatus.VOIDED, pending.expires_at_ns
    )
    return state.record(t, ts)


def _record(t: Transfer, existing: dict[int, Transfer], undo: _Undo, outcome: BatchOutcome) -> None:
    existing[t.id] = t
    undo.new_ids.append(t.id)
    outcome.created.append(t)
    outcome.touched_accounts.add(t.debit_account_id)
    outcome.touched_accounts.add(t.credit_account_id)


def expire(
    due: Iterable[Transfer], accounts: dict[int, Account], pendings: dict[int, Pending]
) -> list[Pending]:
    """Release the reservation of pending transfers whose timeout passed; return the changed states."""
    changed: list[Pending] = []
    for p in due:
        state = pendings[p.id]
        if state.status != PendingStatus.PENDING:
            continue
        accounts[p.debit_account_id].debits_pending -= p.amount_minor
        accounts[p.credit_account_id].credits_pending -= p.amount_minor
        state = Pending(p.id, PendingStatus.EXPIRED, state.expires_at_ns)
        pendings[p.id] = state
        changed.append(state)
    return changed


def ids_named(transfers: Iterable[Transfer]) -> tuple[set[int], set[int]]:
    """Account ids and transfer ids (own and pending) a batch refers to: what storage must load."""
    account_ids: set[int] = set()
    transfer_ids: set[int] = set()
    for t in transfers:
        if t.debit_account_id > 0:
            account_ids.add(t.debit_account_id)
        if t.credit_account_id > 0:
            account_ids.add(t.credit_account_id)
        if t.id > 0:
            transfer_ids.add(t.id)
        if t.pending_id > 0:
            transfer_ids.add(t.pending_id)
    return account_ids, transfer_ids
