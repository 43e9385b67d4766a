"""Credit-loss books beside the margin facility: allowance, default, write-off, recovery, limits.

Why in the ledger and not in a report: the risk committee must see net exposure (loan minus
allowance) in the books themselves, and outcomes must be read back from what the books
recorded (``margin.outcomes``), so every credit event is a transfer:

- ECL allowance per customer (contra-asset ``LOAN_ALLOWANCE``): monthly, the difference to
  the target ECL moves between ``IMPAIRMENT_EXPENSE`` and the allowance (``PROVISION`` up,
  ``PROVISION_RELEASE`` down); at write-off the allowance is released (used);
- default: one memo transfer (``DEFAULT_MARK``) of the exposure at default, cause in
  ``user_data`` (1 = shortfall unpaid past the cure period, 2 = credit event);
- a shortfall paid in collection: cash repays interest, then loan (``COLLECTION_REPAYMENT``),
  and the repaid loan goes back to the line;
- recovery after write-off: cash collected into ``RECOVERY_INCOME`` (``user_data`` = the
  customer, since the platform accounts are shared);
- a line review's new limit: one memo transfer between the line and its control account.

Planners are pure (state in, transfers out); ``post_in`` writes them inside the caller's
unit of work, opening the accounts on first use, and refuses anything the ledger refuses.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ledger.domain import Account, AccountFlags, Transfer, TransferResult
from ledger.repository import SqlLedgerRepository
from ledger.service import create_accounts_in, create_transfers_in
from margin.chart import (
    Code,
    TransferCode,
    customer_account,
    memo_ledger,
    operation_transfer_id,
    platform_account,
)

SHORTFALL = 1
CREDIT_EVENT = 2
DEFAULT_CAUSES = {SHORTFALL: "shortfall", CREDIT_EVENT: "credit_event"}


def credit_accounts(customer_id: int, cash_ledger: int) -> list[Account]:
    """The customer's allowance (credit balance) and defaulted-exposure memo (debit balance)."""
    return [
        Account(
            customer_account(customer_id, Code.LOAN_ALLOWANCE),
            cash_ledger,
            int(Code.LOAN_ALLOWANCE),
            int(AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS),
        ),
        Account(
            customer_account(customer_id, Code.DEFAULTED_EXPOSURE),
            memo_ledger(cash_ledger),
            int(Code.DEFAULTED_EXPOSURE),
            int(AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS),
        ),
    ]


def credit_platform_accounts(cash_ledger: int) -> list[Account]:
    out = [
        Account(platform_account(c, cash_ledger), cash_ledger, int(c))
        for c in (Code.IMPAIRMENT_EXPENSE, Code.RECOVERY_INCOME, Code.FUNDING)
    ]
    out.append(
        Account(
            platform_account(Code.DEFAULT_CONTROL, cash_ledger),
            memo_ledger(cash_ledger),
            int(Code.DEFAULT_CONTROL),
        )
    )
    return out


def plan_allowance(
    customer_ids: Sequence[int],
    target_minor: Sequence[int],
    current_minor: Sequence[int],
    cash_ledger: int,
    yyyymmdd: int,
) -> list[Transfer]:
    """Move each allowance from its current balance to its target (one transfer per change)."""
    expense = platform_account(Code.IMPAIRMENT_EXPENSE, cash_ledger)
    out = []
    for cid, target, current in zip(customer_ids, target_minor, current_minor, strict=True):
        delta = int(target) - int(current)
        if delta == 0 or target < 0:
            continue
        allowance = customer_account(int(cid), Code.LOAN_ALLOWANCE)
        tid = operation_transfer_id("allowance", int(cid), yyyymmdd)
        if delta > 0:
            out.append(
                Transfer(
                    tid,
                    expense,
                    allowance,
                    delta,
                    cash_ledger,
                    int(TransferCode.PROVISION),
                    user_data=yyyymmdd,
                )
            )
        else:
            out.append(
                Transfer(
                    tid,
                    allowance,
                    expense,
                    -delta,
                    cash_ledger,
                    int(TransferCode.PROVISION_RELEASE),
                    user_data=yyyymmdd,
                )
            )
    return out


def plan_default_mark(customer_id: int, ead_minor: int, cause: int, cash_ledger: int) -> Transfer:
    """The one memo transfer that says "defaulted": its amount is the exposure at default."""
    if cause not in DEFAULT_CAUSES or ead_minor <= 0:
        raise ValueError(f"default mark needs a known cause and a positive EAD, got {cause}, {ead_minor}")
    return Transfer(
        operation_transfer_id("default", customer_id),
        customer_account(customer_id, Code.DEFAULTED_EXPOSURE),
        platform_account(Code.DEFAULT_CONTROL, cash_ledger),
        ead_minor,
        memo_ledger(cash_ledger),
        int(TransferCode.DEFAULT_MARK),
        user_data=cause,
    )


def plan_repayment(
    customer_id: int, op: str, cash_minor: int, accrued_minor: int, loan_minor: int, cash_ledger: int
) -> list[Transfer]:
    """Free cash pays accrued interest first, then principal (released back to the line)."""
    pay_i = min(cash_minor, accrued_minor)
    pay_l = min(cash_minor - pay_i, loan_minor)
    cash = customer_account(customer_id, Code.CUSTOMER_CASH)
    code = int(TransferCode.COLLECTION_REPAYMENT)
    out = []
    if pay_i:
        tid = operation_transfer_id("collect", customer_id, op, 0)
        out.append(
            Transfer(
                tid, cash, customer_account(customer_id, Code.ACCRUED_INTEREST), pay_i, cash_ledger, code
            )
        )
    if pay_l:
        tid = operation_transfer_id("collect", customer_id, op, 1)
        out.append(
            Transfer(tid, cash, customer_account(customer_id, Code.MARGIN_LOAN), pay_l, cash_ledger, code)
        )
        out.append(
            Transfer(
                operation_transfer_id("collect", customer_id, op, 2),
                platform_account(Code.LINE_CONTROL, cash_ledger),
                customer_account(customer_id, Code.CREDIT_LINE),
                pay_l,
                memo_ledger(cash_ledger),
                int(TransferCode.LINE_RELEASE),
            )
        )
    return out


def plan_recovery(customer_id: int, op: str, amount_minor: int, cash_ledger: int) -> Transfer:
    """Cash collected after a write-off (bank cash in, recovery income), tagged with the customer."""
    return Transfer(
        operation_transfer_id("recovery", customer_id, op),
        platform_account(Code.FUNDING, cash_ledger),
        platform_account(Code.RECOVERY_INCOME, cash_ledger),
        amount_minor,
        cash_ledger,
        int(TransferCode.RECOVERY),
        user_data=customer_id,
    )


def plan_line_change(
    customer_id: int, op: str, old_line_minor: int, new_line_minor: int, cash_ledger: int
) -> Transfer | None:
    """Raise (control → line) or cut (line → control) the unused line; the ledger refuses a cut
    below what is drawn (the line account may not go negative)."""
    delta = new_line_minor - old_line_minor
    if delta == 0:
        return None
    line = customer_account(customer_id, Code.CREDIT_LINE)
    control = platform_account(Code.LINE_CONTROL, cash_ledger)
    debit, credit = (control, line) if delta > 0 else (line, control)
    tid = operation_transfer_id("line_change", customer_id, op)
    return Transfer(tid, debit, credit, abs(delta), memo_ledger(cash_ledger), int(TransferCode.LINE_CHANGE))


class CreditBooksError(AssertionError):
    """The ledger refused a credit-book posting: a bug in the planner, never bad input."""


def post_in(
    repo: SqlLedgerRepository,
    transfers: Iterable[Transfer],
    now_ns: int,
    customers: Iterable[int],
    cash_ledger: int,
) -> list[TransferResult]:
    """Open the credit accounts of ``customers`` if needed, then post ``transfers`` in this transaction."""
    batch = list(transfers)
    accounts = credit_platform_accounts(cash_ledger)
    for cid in customers:
        accounts += credit_accounts(int(cid), cash_ledger)
    for i in range(0, len(accounts), 4_000):
        create_accounts_in(repo, accounts[i : i + 4_000], now_ns)
    results: list[TransferResult] = []
    for i in range(0, len(batch), 4_000):
        chunk = create_transfers_in(repo, batch[i : i + 4_000], now_ns)
        bad = [
            (t.id, r)
            for t, r in zip(batch[i : i + 4_000], chunk, strict=True)
            if r not in (TransferResult.OK, TransferResult.EXISTS)
        ]
        if bad:
            raise CreditBooksError(f"credit-book transfer {bad[0][0]} refused: {bad[0][1]}")
        results += chunk
    return results


def balances(repo: SqlLedgerRepository, customer_ids: Sequence[int], code: Code) -> dict[int, int]:
    """Net balance (credits − debits) of one customer account code, per customer (0 if none)."""
    found = repo.load_accounts([customer_account(int(c), code) for c in customer_ids])
    out = {}
    for c in customer_ids:
        a = found.get(customer_account(int(c), code))
        out[int(c)] = 0 if a is None else a.credits_posted - a.debits_posted
    return out


__all__ = [
    "CREDIT_EVENT",
    "DEFAULT_CAUSES",
    "SHORTFALL",
    "CreditBooksError",
    "balances",
    "credit_accounts",
    "credit_platform_accounts",
    "plan_allowance",
    "plan_default_mark",
    "plan_line_change",
    "plan_recovery",
    "plan_repayment",
    "post_in",
]
